"""Weight binarizers: thin modules over :mod:`mmbnn.binarizers.functional`."""
import torch

from mmbnn.registry import MODELS
from .base import WeightBinarizer
from .functional import sign, ste_sign

__all__ = ['XNORWeight']


def _channel_mean_abs(w: torch.Tensor) -> torch.Tensor:
    """mean |w| over every dim but the first (output channels), shaped to broadcast."""
    return w.abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)


@MODELS.register_module()
class XNORWeight(WeightBinarizer):
    """Sign with one scale per output channel, alpha_c = mean |w_c| (XNOR-Net; Rastegari et al.,
    2016). ``q(w) = alpha * sign(w)``; the sign passes the identity straight-through gradient, the
    scale its exact gradient."""

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return _channel_mean_abs(w) * ste_sign(w, None)

    def binary_parts(self, w):
        return sign(w), _channel_mean_abs(w), None
