"""ReCU: the rectified clamp unit of Xu et al., "ReCU: Reviving the Dead Weights in Binary Neural
Networks", ICCV 2021 (official code ``z-hXu/ReCU``; BiBench's ``models/layers/recu.py`` is the
same), as a weight binarizer and its activation binarizer.

Latent weights in the tails of their distribution ("dead weights") never change sign and get
little gradient. ReCU standardises each output channel's weights and clamps them at the
``tau`` quantile of a Laplace distribution with the layer's mean absolute value, so that the
tails move back into the range where training acts on them; ``tau`` grows over training.
"""
import math
import numbers
from typing import Optional

import torch
from torch import nn

from mmbnn.registry import MODELS
from ._progress import ProgressScheduleMixin
from .base import ActivationBinarizer, WeightBinarizer
from .functional import approx_sign, sign, ste_sign

__all__ = ['ReCUWeight', 'ReCUSign', 'recu_tau']

#: ``w0 / (std / (2 sqrt 2))``: the official code's standardisation factor.
_STD_FACTOR = 2 * math.sqrt(2)


def recu_tau(progress: float, tau_min: float = 0.85, tau_max: float = 0.99) -> float:
    """ReCU's exponential schedule ``tau = A e^p + B`` with ``A = (tau_max - tau_min) / (e - 1)``
    and ``B = tau_min - A``: ``tau_min`` at ``p = 0``, ``tau_max`` at ``p = 1``."""
    a = (tau_max - tau_min) / (math.e - 1)
    return a * math.exp(progress) + tau_min - a


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f'{name} must be a real number, got {name}={value!r}')
    return float(value)


@MODELS.register_module()
class ReCUWeight(ProgressScheduleMixin, WeightBinarizer):
    """ReCU's weight binarizer with its learned per-channel scale.

    Per output channel c (``n_c`` weights, every dim but the first):

    - ``w0 = w - mean_c(w)``; ``w1 = 2 sqrt(2) w0 / sqrt(var_c(w0) + eps)`` (unbiased variance,
      as ``torch.var``);
    - ``Q = -mean(|w1|) log(2 - 2 tau)`` over the whole layer, without gradient (the ``tau``
      quantile of a Laplace distribution of that mean absolute value);
    - ``q(w) = alpha_c sign(clamp(w1, -Q, Q))``.

    Gradient: the identity straight-through estimator through the sign, then exactly through the
    clamp (1 where ``|w1| <= Q``, 0 beyond) and the standardisation;
    ``dL/dalpha_c = sum_c(g sign(w1))``. ``alpha`` (a Parameter of shape ``(C_out,)``) is the
    official code's output scale, folded into the weight: ``conv(x, alpha_c B) = alpha_c conv(x,
    B)`` (with a bias, the official code also scales the bias; here it is not scaled).
    ``tau = recu_tau(p, tau_min, tau_max)`` follows the training progress ``p`` set by
    :class:`mmbnn.engine.EDEHook` (``by_epoch=True`` is the official schedule); 0 without it.
    Not :attr:`rowwise`: ``Q`` is one value per layer.
    ``binary_parts``: ``(sign(clamp(w1, -Q, Q)), alpha, None)``.

    Args:
        channels (int): Number of output channels C_out; binary layers pass it automatically.
        tau_min (float): ``tau`` at the start of training, in (0.5, 1). Default: 0.85.
        tau_max (float): ``tau`` at the end of training, in [tau_min, 1). Default: 0.99.
        eps (float): Added to the variance. Default: 1e-5.
        init_value (float, optional): Initial value of every alpha_c; None draws them uniformly
            from [0, 1) as the official code (``torch.rand``). Default: None.
    """

    def __init__(self, channels: int, tau_min: float = 0.85, tau_max: float = 0.99,
                 eps: float = 1e-5, init_value: Optional[float] = None):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f'channels must be a positive int, got {channels!r}')
        tau_min, tau_max = _real('tau_min', tau_min), _real('tau_max', tau_max)
        if not 0.5 < tau_min <= tau_max < 1:
            raise ValueError(f'ReCU needs 0.5 < tau_min <= tau_max < 1 (tau = 0.5 clamps every '
                             f'weight to 0, tau = 1 not at all), got tau_min={tau_min}, '
                             f'tau_max={tau_max}')
        if not _real('eps', eps) > 0:
            raise ValueError(f'eps must be positive, got eps={eps!r}')
        self.channels = channels
        self.tau_min, self.tau_max, self.eps = tau_min, tau_max, float(eps)
        init = torch.rand(channels) if init_value is None else torch.full(
            (channels, ), _real('init_value', init_value))
        self.scale = nn.Parameter(init)
        self._apply_progress(0.0)

    def _apply_progress(self, progress: float) -> None:
        self.tau = recu_tau(progress, self.tau_min, self.tau_max)

    def _clamped(self, w: torch.Tensor) -> torch.Tensor:
        """``clamp(w1, -Q, Q)``, differentiable in ``w`` (Q without gradient)."""
        if w.size(0) != self.channels:
            raise ValueError(f'ReCUWeight(channels={self.channels}) got a weight with '
                             f'{w.size(0)} output channels')
        if w[0].numel() < 2:
            raise ValueError(f'ReCUWeight needs at least 2 weights per output channel to '
                             f'standardise them, got weight shape {tuple(w.shape)}')
        dims = tuple(range(1, w.dim()))
        w0 = w - w.mean(dim=dims, keepdim=True)
        w1 = w0 * _STD_FACTOR / torch.sqrt(w0.var(dim=dims, keepdim=True) + self.eps)
        with torch.no_grad():
            q = -w1.abs().mean() * math.log(2 - 2 * self.tau)
        return torch.clamp(w1, -q, q)

    def _scale(self, w: torch.Tensor) -> torch.Tensor:
        return self.scale.view(-1, *([1] * (w.dim() - 1)))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return ste_sign(self._clamped(w), None) * self._scale(w)

    def binary_parts(self, w):
        return sign(self._clamped(w)), self._scale(w), None

    def extra_repr(self) -> str:
        return (f'bits={self.bits}, channels={self.channels}, tau_min={self.tau_min}, '
                f'tau_max={self.tau_max}, tau={self.tau:.4f}')


@MODELS.register_module()
class ReCUSign(ActivationBinarizer):
    """ReCU's activation binarizer: ApproxSign of the input scaled to unit variance per sample.

    In training, ``q(x) = sign(x / sqrt(var_i(x) + eps))`` with ``var_i`` the (unbiased) variance
    of sample i over all its other dims, and the gradient of ApproxSign (``2 - 2|u|`` on
    ``|u| <= 1`` for ``u`` the scaled input) chained exactly through the scaling; in eval mode
    ``q(x) = sign(x)``, the same values (a positive scale keeps every sign; sign(0) = +1).
    As the official code, which scales the input only in training. Saves the scaled input.

    Args:
        eps (float): Added to the variance. Default: 1e-5.
    """

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        if not _real('eps', eps) > 0:
            raise ValueError(f'eps must be positive, got eps={eps!r}')
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x[0].numel() < 2:
            raise ValueError(f'ReCUSign scales each sample by its standard deviation: it needs '
                             f'inputs (N, C, ...) with at least 2 values per sample, got '
                             f'{tuple(x.shape)}')
        if self.training:
            dims = tuple(range(1, x.dim()))
            x = x / torch.sqrt(x.var(dim=dims, keepdim=True) + self.eps)
        return approx_sign(x)

    def extra_repr(self) -> str:
        return f'bits={self.bits}, eps={self.eps}'
