"""The weight binarizer of Bi-Real Net's and ReActNet's official code (``HardBinaryConv``)."""
import numbers

import torch

from mmbnn.registry import MODELS
from .base import WeightBinarizer
from .functional import clipped_ste, group_mean_abs, sign

__all__ = ['BiRealWeight']


def _channel_alpha(w: torch.Tensor) -> torch.Tensor:
    """``alpha_c = mean |w_c|`` per output channel (dim 0), shaped ``(C_out, 1, ...)``."""
    return group_mean_abs(w, w.shape[0]).view(-1, *([1] * (w.dim() - 1)))


def _channel_scaled_sign(w: torch.Tensor) -> torch.Tensor:
    return sign(w) * _channel_alpha(w)


@MODELS.register_module()
class BiRealWeight(WeightBinarizer):
    """Sign with a *detached* mean-|w| scale per output channel and the clipped straight-through
    gradient, as the official code of Bi-Real Net (Liu et al., ECCV 2018) and ReActNet (Liu et
    al., ECCV 2020; ``mobilenet/2_step2/reactnet.py``, ``HardBinaryConv``) compute it.

    ``q(w) = alpha_c sign(w)`` with ``alpha_c = mean |w_c|`` (no gradient);
    ``dq/dw = 1 if |w| <= clip_value else 0`` (the gradient of ``clamp(w, -1, 1)``, not scaled by
    alpha). :class:`~mmbnn.binarizers.XNORWeight` has the same forward value but the exact
    gradient of the scale (``alpha_c g`` plus a term through alpha); for ReActNet the official
    code's gradient is the default, XNOR's the paper-level alternative. Latent weights are not
    clamped (the official code does not), so ``clamp`` is None. Saves a boolean mask.
    ``binary_parts``: ``(sign(w), alpha, None)``, ``alpha`` of shape ``(C_out, 1, ...)``.

    Args:
        clip_value (float): Gradient window ``|w| <= clip_value``. Default: 1.0.
    """
    rowwise = True

    def __init__(self, clip_value: float = 1.0):
        super().__init__()
        if isinstance(clip_value, bool) or not isinstance(clip_value, numbers.Real) or \
                not clip_value > 0:
            raise ValueError(f'clip_value must be positive, got {clip_value!r}')
        self.clip_value = float(clip_value)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return clipped_ste(w, _channel_scaled_sign, -self.clip_value, self.clip_value)

    def binary_parts(self, w):
        return sign(w), _channel_alpha(w), None

    def extra_repr(self) -> str:
        return f'bits={self.bits}, clip_value={self.clip_value}'
