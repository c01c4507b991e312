"""Functional cores of the binarizers: one small autograd function per surrogate gradient.

Every sign maps 0 to +1 (``sign(0) = +1``), and every function saves for backward only what its
gradient needs:

- the straight-through estimators (clipped or not) share :class:`_ClippedSTE`, which keeps a
  boolean mask (1 byte per element) when the gradient is clipped and nothing when it is not;
- ApproxSign and SwishSign keep their float input, which their gradient is a function of;
- EDE keeps its float input and the two 0-d tensors ``t`` and ``k``.
"""
import math
from typing import Callable, Optional, Tuple

import torch
from torch.autograd import Function

__all__ = ['sign', 'ste_sign', 'clipped_ste', 'approx_sign', 'swish_sign', 'ede_sign',
           'ede_schedule', 'quantize_k', 'dorefa_quantize']


def sign(x: torch.Tensor) -> torch.Tensor:
    """``+1`` where ``x >= 0``, ``-1`` elsewhere (so ``sign(0) = +1``), in ``x``'s dtype."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def quantize_k(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``round(x * n) / n`` with ``n = 2^bits - 1`` (DoReFa's quantize_k, for x in [0, 1]).

    No gradient rule of its own: callers wrap it in :func:`clipped_ste`. ``round`` rounds half to
    even, as ``torch.round``, ``numpy.round`` and ``tf.round`` do.
    """
    n = float(2 ** bits - 1)
    return torch.round(x * n) / n


def _within(x: torch.Tensor, low: Optional[float], high: Optional[float]) -> torch.Tensor:
    """Boolean mask of ``low <= x <= high`` (a None bound is open)."""
    if low is not None and high is not None and low == -high:
        return x.abs() <= high
    if low is None:
        return x <= high
    if high is None:
        return x >= low
    return (x >= low) & (x <= high)


class _ClippedSTE(Function):
    """q(x) = quantize(x); dq/dx = 1 where low <= x <= high, 0 elsewhere.

    The one straight-through estimator every STE binarizer shares. With both bounds None the
    gradient is the plain identity and nothing is saved; otherwise a boolean mask is saved.
    ``quantize`` runs without autograd: it must be a function of ``x`` alone (constants it
    computes from ``x``, such as a mean, receive no gradient).
    """

    @staticmethod
    def forward(ctx, x, quantize, low, high):
        ctx.clipped = low is not None or high is not None
        if ctx.clipped:
            ctx.save_for_backward(_within(x, low, high))
        return quantize(x)

    @staticmethod
    def backward(ctx, grad_output):
        if not ctx.clipped:
            return grad_output, None, None, None
        mask, = ctx.saved_tensors
        return grad_output * mask, None, None, None


def clipped_ste(x: torch.Tensor, quantize: Callable[[torch.Tensor], torch.Tensor],
                low: Optional[float] = None, high: Optional[float] = None) -> torch.Tensor:
    """``quantize(x)`` in the forward pass; in the backward pass the gradient passes unchanged
    where ``low <= x <= high`` and is 0 elsewhere (None bounds: open; both None: identity)."""
    return _ClippedSTE.apply(x, quantize, low, high)


def ste_sign(x: torch.Tensor, clip_value: Optional[float] = 1.0) -> torch.Tensor:
    """Sign with the straight-through estimator, clipped at ``|x| <= clip_value``
    (``clip_value=None``: not clipped, nothing saved for backward)."""
    if clip_value is None:
        return _ClippedSTE.apply(x, sign, None, None)
    return _ClippedSTE.apply(x, sign, -clip_value, clip_value)


def dorefa_quantize(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``quantize_k(clamp(x, 0, 1))`` with gradient 1 on ``[0, 1]`` and 0 outside (DoReFa)."""
    return _ClippedSTE.apply(x, lambda v: quantize_k(v.clamp(0, 1), bits), 0.0, 1.0)


class _ApproxSign(Function):
    """q(x) = sign(x); dq/dx = max(2 - 2|x|, 0) (Bi-Real Net's ApproxSign). Saves x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * (2 - 2 * x.abs()).clamp_min(0)


def approx_sign(x: torch.Tensor) -> torch.Tensor:
    """Sign with Bi-Real Net's piecewise-linear gradient ``2 - 2|x|`` on [-1, 1], 0 outside."""
    return _ApproxSign.apply(x)


class _SwishSign(Function):
    """q(x) = sign(x); dq/dx = beta (2 - beta x tanh(beta x / 2)) / (1 + cosh(beta x)) (BNN+).

    Computed in the equal form ``beta (1 - z tanh z) / cosh^2 z`` with ``z = beta x / 2``, which
    does not overflow to inf/inf for large ``|x|``. Saves x.
    """

    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x)
        ctx.beta = beta
        return sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        z = x * (ctx.beta / 2)
        grad = ctx.beta * (1 - z * torch.tanh(z)) / torch.cosh(z).square()
        return grad_output * grad, None


def swish_sign(x: torch.Tensor, beta: float = 5.0) -> torch.Tensor:
    """Sign with the gradient of BNN+'s SignSwish ``2 sigmoid(beta x)(1 + beta x (1 -
    sigmoid(beta x))) - 1``."""
    return _SwishSign.apply(x, beta)


class _EDESign(Function):
    """q(x) = sign(x); dq/dx = k t (1 - tanh^2(t x)) (IR-Net's Error Decay Estimator).

    ``t`` and ``k`` are 0-d tensors (buffers of the calling module, so no host-device sync).
    ``1 - tanh^2`` is computed as ``1 / cosh^2``, equal and exact for large ``|t x|``.
    Saves x, t, k.
    """

    @staticmethod
    def forward(ctx, x, t, k):
        ctx.save_for_backward(x, t, k)
        return sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        x, t, k = ctx.saved_tensors
        grad = (k * t) / torch.cosh(t * x).square()
        return grad_output * grad, None, None


def ede_sign(x: torch.Tensor, t: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Sign with IR-Net's EDE gradient ``k t (1 - tanh^2(t x))``; ``t`` and ``k`` are 0-d
    tensors, cast to ``x``'s dtype and device."""
    return _EDESign.apply(x, t.to(x), k.to(x))


def ede_schedule(progress: float, t_min: float = 0.1, t_max: float = 10.0
                 ) -> Tuple[float, float]:
    """IR-Net's EDE schedule: ``t = t_min 10^(progress log10(t_max / t_min))``,
    ``k = max(1 / t, 1)``, for ``progress`` (current epoch / total epochs) in [0, 1]."""
    if not 0 <= progress <= 1:
        raise ValueError(f'progress must be in [0, 1], got {progress}')
    t = t_min * 10 ** (progress * math.log10(t_max / t_min))
    return t, max(1 / t, 1.0)
