"""FDA: the Fourier-series gradient of sign, from Xu et al., "Learning Frequency Domain
Approximation for Binary Neural Networks", NeurIPS 2021 (BiBench's ``models/layers/fda.py``, the
authors' code, is the reference followed here).

The square wave ``sign(x)`` (period 2 pi / omega) is the Fourier sine series
``4/pi sum_{i>=0} sin((2i+1) omega x) / (2i+1)``; truncated after ``n + 1`` terms it is smooth,
and its derivative is the surrogate gradient of sign::

    d/dx sign(x) ~= 4 omega / pi * sum_{i=0}^{n} cos((2i+1) omega x)
                  = 4 omega / pi * sin(2 (n+1) omega x) / (2 sin(omega x))

(0 outside ``|x| <= 1``, as the code). More terms approach the true derivative: ``n`` grows
over training (BiBench: ``n = 9 + int(9 epoch / epochs)``).

Left out: the paper's noise-adaptation module, a small learned network whose output, times a
weight decayed to 0 by the end of training, is added to the binary weights and activations
during training. It is not a binarizer (its input sizes are the layer's, and it makes the
forward value non-binary while it acts) and BiBench builds it lazily inside its conv.
"""
import math
import numbers

import torch
from torch.autograd import Function

from mmbnn.registry import MODELS
from ._progress import ProgressScheduleMixin
from .base import ActivationBinarizer, WeightBinarizer
from .functional import sign

__all__ = ['FDASign', 'FDAWeight', 'fda_sign', 'fourier_sign_grad', 'fda_terms']

#: Below this ``|omega x|`` the closed form's ratio is replaced by its Taylor expansion.
_SMALL = 1e-4


def fda_terms(progress: float, n_min: int = 9, n_max: int = 18) -> int:
    """``n = n_min + int(progress (n_max - n_min))`` (BiBench: ``9 + int(9 epoch / epochs)``)."""
    return n_min + int(progress * (n_max - n_min))


def fourier_sign_grad(x: torch.Tensor, n: int, omega: float) -> torch.Tensor:
    """``4 omega / pi sum_{i=0}^{n} cos((2i+1) omega x)`` for ``|x| <= 1``, 0 elsewhere, from the
    closed form ``sin(2 (n+1) t) / (2 sin t)`` (``t = omega x``; two sines instead of ``n + 1``
    cosines), and ``(n+1) - t^2 S / 2`` with ``S = sum (2i+1)^2 = (n+1)(2n+1)(2n+3)/3`` where
    ``|t| < 1e-4`` (the ratio's 0/0 at ``t = 0``; the next term is below float rounding)."""
    t = x * omega
    m = n + 1
    small = t.abs() < _SMALL
    ratio = torch.sin(2 * m * t) / (2 * torch.sin(torch.where(small, torch.ones_like(t), t)))
    series = m - t * t * (m * (2 * n + 1) * (2 * n + 3) / 6)
    total = torch.where(small, series, ratio)
    return (4 * omega / math.pi) * total * (x.abs() <= 1)


class _FDASign(Function):
    """q(x) = sign(x); dq/dx = :func:`fourier_sign_grad` (x, n, omega). Saves x."""

    @staticmethod
    def forward(ctx, x, n, omega):
        ctx.save_for_backward(x)
        ctx.n, ctx.omega = n, omega
        return sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * fourier_sign_grad(x, ctx.n, ctx.omega), None, None


def fda_sign(x: torch.Tensor, n: int = 9, omega: float = 0.1) -> torch.Tensor:
    """Sign with FDA's gradient of ``n + 1`` Fourier terms (:func:`fourier_sign_grad`)."""
    return _FDASign.apply(x, n, omega)


class _FourierScheduleMixin(ProgressScheduleMixin):
    """``n_min``, ``n_max`` and ``omega``, checked; ``n`` follows the training progress."""
    n: int

    def _init_fourier(self, n_min: int, n_max: int, omega: float) -> None:
        for name, v in (('n_min', n_min), ('n_max', n_max)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f'{name} must be an int >= 0, got {name}={v!r}')
        if n_min > n_max:
            raise ValueError(f'FDA needs n_min <= n_max, got n_min={n_min}, n_max={n_max}')
        if isinstance(omega, bool) or not isinstance(omega, numbers.Real) or not omega > 0:
            raise ValueError(f'omega must be positive, got omega={omega!r}')
        self.n_min, self.n_max, self.omega = n_min, n_max, float(omega)
        self._apply_progress(0.0)

    def _apply_progress(self, progress: float) -> None:
        self.n = fda_terms(progress, self.n_min, self.n_max)

    def extra_repr(self) -> str:
        return (f'bits={self.bits}, n_min={self.n_min}, n_max={self.n_max}, n={self.n}, '
                f'omega={self.omega}')


@MODELS.register_module()
class FDASign(_FourierScheduleMixin, ActivationBinarizer):
    """Sign with FDA's Fourier-series gradient (module docstring).

    ``q(x) = +1 if x >= 0 else -1``; ``dq/dx = 4 omega / pi sum_{i=0}^{n} cos((2i+1) omega x)``
    on ``|x| <= 1``, 0 elsewhere, with ``n = n_min + int(p (n_max - n_min))`` for the training
    progress ``p`` set by :class:`mmbnn.engine.EDEHook` (``by_epoch=True``: BiBench's schedule);
    ``n = n_min`` without it. Saves the input.

    Args:
        n_min (int): ``n`` at the start of training (``n + 1`` terms). Default: 9.
        n_max (int): ``n`` at the end of training. Default: 18.
        omega (float): Angular frequency of the series. Default: 0.1 (the code's).
    """

    def __init__(self, n_min: int = 9, n_max: int = 18, omega: float = 0.1):
        super().__init__()
        self._init_fourier(n_min, n_max, omega)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fda_sign(x, self.n, self.omega)


@MODELS.register_module()
class FDAWeight(_FourierScheduleMixin, WeightBinarizer):
    """FDA's weight binarizer: sign with the Fourier-series gradient, times the mean absolute
    weight of each output channel (a constant, as the code's detached scaling factor).

    ``q(w) = alpha_c sign(w)`` with ``alpha_c = mean_c |w|`` (no gradient);
    ``dL/dw = alpha_c g dq/dw`` with ``dq/dw`` the series of :class:`FDASign` (0 where
    ``|w| > 1``). ``binary_parts``: ``(sign(w), alpha, None)``.

    Args:
        n_min, n_max, omega: As :class:`FDASign`.
    """
    rowwise = True

    def __init__(self, n_min: int = 9, n_max: int = 18, omega: float = 0.1):
        super().__init__()
        self._init_fourier(n_min, n_max, omega)

    @staticmethod
    def _alpha(w: torch.Tensor) -> torch.Tensor:
        return w.detach().abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return fda_sign(w, self.n, self.omega) * self._alpha(w)

    def binary_parts(self, w):
        return sign(w), self._alpha(w), None
