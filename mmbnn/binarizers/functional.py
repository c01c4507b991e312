"""Functional cores of the binarizers: one small autograd function per surrogate gradient.

Every sign maps 0 to +1 (``sign(0) = +1``), and every function saves for backward only what its
gradient needs:

- the straight-through estimators (clipped or not) share :class:`_ClippedSTE`, which keeps a
  boolean mask (1 byte per element) when the gradient is clipped and nothing when it is not;
- ApproxSign and SwishSign keep their float input, which their gradient is a function of;
- EDE keeps its float input and the two 0-d tensors ``t`` and ``k``;
- :func:`sign_mean_abs` (the weight's signs and mean-|w| scales as two tensors, for binary layers
  that scale after the convolution) keeps only the weight itself.

The fused binary layers (:mod:`mmbnn.layers.binary_conv_function`) keep even less: see
:mod:`mmbnn.binarizers.sign_grad`.
"""
import math
from typing import Callable, Optional, Tuple

import torch
from torch.autograd import Function

from ._kernels import kernel_ready

__all__ = ['sign', 'ste_sign', 'clipped_ste', 'mean_abs_scaled_sign', 'group_mean_abs',
           'sign_mean_abs', 'split_mean_abs', 'mean_abs', 'approx_sign', 'swish_sign', 'swish_slope', 'ede_sign', 'ede_slope',
           'ede_schedule', 'quantize_k', 'dorefa_quantize']


def sign(x: torch.Tensor) -> torch.Tensor:
    """``+1`` where ``x >= 0``, ``-1`` elsewhere (so ``sign(0) = +1``, ``-0.0`` included), in
    ``x``'s dtype.

    Computed as ``sign(sign(x) + 0.5)``: ``torch.sign`` maps 0 to 0, and the shift sends it to
    +1. Three vectorised passes, about 4x faster on the CPU than
    ``torch.where(x >= 0, 1., -1.)`` with scalar operands (measured here on 8M elements: 14 ms
    against 58 ms, one thread); in ONNX it exports as Sign, Add, Sign.
    """
    return torch.sign(x).add_(0.5).sign_()


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


def group_mean_abs(w: torch.Tensor, groups: int) -> torch.Tensor:
    """``mean |w|`` over each of ``groups`` equal consecutive slices of ``w`` along dim 0 (``w``
    viewed as ``(groups, -1)``), shaped ``(groups, 1)``: :func:`mean_abs`'s value (summed in
    double precision, rounded once), differentiable."""
    if torch.is_grad_enabled() and w.requires_grad:  # mean_abs's value, with autograd
        v = w.reshape(groups, -1)
        return (v.double().abs().sum(1, keepdim=True) / v.shape[1]).to(w.dtype)
    return mean_abs(w, groups).unsqueeze(1)


class _MeanAbsScaledSign(Function):
    """q(w) = alpha_g sign(w) with alpha_g = mean |w| over group g (``w`` viewed as
    ``(groups, -1)``); dq/dw: the identity STE through the sign plus the exact gradient of the
    scale, ``dL/dw_i = alpha_g g_i + sgn(w_i) / n_g sum_{j in g} g_j sign(w_j)`` (``sgn(0) = 0``,
    as ``torch.abs``'s gradient). One function instead of autograd's chain of abs, mean, sign and
    mul: about half the passes over the weights, which for the K-base weights of Group-Net
    (55M for ResNet-18 at K = 5) are a large part of a training step. Saves the signs."""

    @staticmethod
    def forward(ctx, w, groups):
        v = w.reshape(groups, -1)
        alpha = mean_abs(w, groups).unsqueeze(1)
        signs = sign(v)
        ctx.save_for_backward(w, alpha, signs)
        return (signs * alpha).view_as(w)

    @staticmethod
    def backward(ctx, grad_output):
        w, alpha, signs = ctx.saved_tensors
        g = grad_output.reshape(signs.shape)
        c = (g * signs).mean(1, keepdim=True)
        grad = torch.addcmul(g * alpha, torch.sign(w.reshape(signs.shape)), c)
        return grad.view_as(w), None


class _SignMeanAbs(Function):
    """``(sign(w), alpha)`` with ``alpha_g = mean |w|`` over group g (``w`` viewed as
    ``(groups, -1)``): :class:`_MeanAbsScaledSign`'s two factors as two outputs, for a layer that
    computes ``conv(x, sign(w)) * alpha`` (exact integer sums, then one rounding). Backward:
    ``dL/dw_i = dL/dsign_i + sgn(w_i) / n_g dL/dalpha_g`` (identity STE through the sign, the
    exact gradient of the mean; ``sgn(0) = 0`` as ``torch.abs``'s gradient), the same gradient
    as :class:`_MeanAbsScaledSign` when ``dL/dsign = alpha g`` and ``dL/dalpha = sum(g sign)``.
    Saves only ``w`` (the layer's parameter: no memory of its own), recomputing ``sgn(w)``."""

    @staticmethod
    def forward(ctx, w, groups):
        ctx.save_for_backward(w)
        ctx.groups = groups
        return split_mean_abs(w, groups)

    @staticmethod
    def backward(ctx, grad_signs, grad_alpha):
        w, = ctx.saved_tensors
        if grad_alpha is None:
            return grad_signs, None
        if grad_signs is None:
            grad_signs = torch.zeros_like(w)
        ops = kernel_ready(w, grad_signs, grad_alpha)
        if ops is not None and w.is_contiguous():
            # grad_signs is this function's own gradient buffer (the signs feed one layer):
            # add the scale's part into it rather than into a new weight-sized tensor
            if grad_signs.is_contiguous() and grad_signs._base is None:
                ops.train_mean_abs_backward_(w, grad_signs, grad_alpha.contiguous(),
                                             ctx.groups)
                return grad_signs.view_as(w), None
            grad = ops.train_mean_abs_backward(w, grad_signs.contiguous(),
                                               grad_alpha.contiguous(), ctx.groups)
            return grad.view_as(w), None
        v = w.reshape(ctx.groups, -1)
        scale = (grad_alpha / v.shape[1]).unsqueeze(1)
        grad = torch.addcmul(grad_signs.reshape(v.shape), torch.sign(v), scale)
        return grad.view_as(w), None


def split_mean_abs(w: torch.Tensor, groups: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(sign(w), mean_abs(w, groups))`` without autograd, in one pass with the compiled
    kernels."""
    ops = kernel_ready(w)
    if ops is not None and w.is_contiguous():
        signs, alpha = ops.train_sign_mean_abs(w, groups)
        return signs.view_as(w), alpha
    return sign(w), mean_abs(w, groups)


def mean_abs(w: torch.Tensor, groups: int) -> torch.Tensor:
    """The mean |w| of each of ``groups`` equal consecutive slices of ``w`` along dim 0, shaped
    ``(groups, )``, summed in double precision and rounded once: the same float on every machine
    and with any number of threads (a float32 sum's rounding depends on the order the vector
    width and the threads give it), as the layers that scale after an exact integer convolution
    need; :func:`group_mean_abs` and :func:`mean_abs_scaled_sign` (the reference path) use the
    same value, so packed scales, the fused and the reference layers agree bit for bit."""
    ops = kernel_ready(w)
    if ops is not None and w.is_contiguous():
        return ops.train_mean_abs(w, groups)
    v = w.reshape(groups, -1)
    return (v.double().abs().sum(1) / v.shape[1]).to(w.dtype)


def sign_mean_abs(w: torch.Tensor, groups: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(sign(w), alpha)``, ``alpha`` of shape ``(groups, )`` the mean |w| of each group of dim
    0 (:func:`mean_abs`: the same float on every machine; :func:`mean_abs_scaled_sign`'s float32
    mean may differ from it in the last bit), with the gradient of :class:`_SignMeanAbs`."""
    if (torch.is_grad_enabled() and w.requires_grad) and not torch.onnx.is_in_onnx_export():
        return _SignMeanAbs.apply(w, groups)
    return split_mean_abs(w, groups)


def mean_abs_scaled_sign(w: torch.Tensor, groups: int) -> torch.Tensor:
    """``alpha_g sign(w)``, one mean-|w| scale per group of dim 0 (XNOR-Net: ``groups = C_out``;
    Group-Net's per-layer scale: ``groups = 1`` or K), with the gradient of
    :class:`_MeanAbsScaledSign`. Without a gradient to compute (inference, ONNX export) it runs
    the same ops without the autograd function."""
    if (torch.is_grad_enabled() and w.requires_grad) and not torch.onnx.is_in_onnx_export():
        return _MeanAbsScaledSign.apply(w, groups)
    v = w.reshape(groups, -1)
    return (sign(v) * mean_abs(w, groups).unsqueeze(1)).view_as(w)


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
        return grad_output * swish_slope(x, ctx.beta), None


def swish_slope(x: torch.Tensor, beta: float) -> torch.Tensor:
    """SignSwish's ``dq/dx = beta (1 - z tanh z) / cosh^2 z``, ``z = beta x / 2``."""
    z = x * (beta / 2)
    return beta * (1 - z * torch.tanh(z)) / torch.cosh(z).square()


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
        return grad_output * ede_slope(x, t, k), None, None


def ede_slope(x: torch.Tensor, t: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """EDE's ``dq/dx = k t / cosh^2(t x)`` (``t``, ``k``: 0-d tensors of ``x``'s dtype)."""
    return (k * t) / torch.cosh(t * x).square()


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
