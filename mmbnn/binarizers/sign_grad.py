"""What a sign binarizer keeps for its surrogate gradient, and the gradient from it.

A fused binary layer (:mod:`mmbnn.layers.binary_conv_function`) binarizes its input, computes
with the signs and keeps for backward only what its binarizer's gradient ``dq/dx`` needs, never
the float signs: the signs (1 bit per element, packed 8 to a byte) for the weight gradient, plus,
per rule:

==========================  =========================================  ===================  =====
rule                        dq/dx                                      kept per element     exact
==========================  =========================================  ===================  =====
:class:`IdentityGrad`       1                                          1 bit (signs)        yes
:class:`ClipGrad`           1 where ``|x| <= c``                       2 bits (+ mask)      yes
:class:`ApproxGrad`         ``max(2 - 2|x|, 0)`` (ApproxSign)          32 bits (the input)  yes
:class:`ApproxGrad` (b)     the same from ``|x|`` in ``2^b - 1`` steps  1 + b bits           no
:class:`FunctionGrad`       any ``f(x)`` (SwishSign, EDE)              32 bits (the input)  yes
==========================  =========================================  ===================  =====

"Exact" means the very formula of the binarizer's own autograd function on the very same floats,
so ``dL/dx`` equals the unfused layer's to float rounding (the rounding of the convolution's own
backward). ApproxSign's slope is a continuous function of ``|x|``: reproducing every float of it
takes the float (about 24 bits of ``|x|`` on [0, 1], so the 32-bit input is kept). With
``ApproxGrad(bits=b)`` the rule keeps ``|x|`` rounded to ``L = 2^b - 1`` levels on [0, 1] (``b``
= 8: a byte; 16: 15-bit levels in an int16), ``|x| > 1`` at the top level (slope 0), so the
slope is off by at most ``1 / L`` (0.0039 at 8 bits, 3.1e-5 at 16) and is exact at
``|x| = 0`` and ``|x| >= 1``.

The rules work on whole tensors in any layout; the signs are packed along the flattened tensor
(:func:`pack_bits`). Where the compiled kernels are built (:mod:`mmbnn.binarizers._kernels`)
encoding, unpacking and the gradients of float32 tensors take one pass each, with the same
results.
"""
from typing import Callable, Optional, Tuple

import torch
from torch.autograd import Function

from ._kernels import kernel_ready
from .functional import sign

__all__ = ['SignGrad', 'IdentityGrad', 'ClipGrad', 'ApproxGrad', 'FunctionGrad', 'pack_bits',
           'unpack_signs', 'unpack_bits', 'pack_signs', 'saved_bits', 'sign_with',
           'approx_slope']

# Bit tricks on 8 bytes at a time (int64, little-endian): pack 8 bytes of 0/1 into one byte, and
# spread one byte's bits back into 8 bytes.
_PACK = 0x0102040810204080  # v * _PACK: bit 56 + j = byte j's 0/1 (no carries: distinct powers)
_SPREAD = 0x0101010101010101  # the byte copied into all 8 bytes
_SELECT = 0x8040201008040201 - 2**64  # keeps bit j in byte j (as a signed int64)
#: byte -> its 8 bits as floats (bit j, LSB first: +1 where set, -1 where not)
_SIGN_TABLE = torch.tensor([[1.0 if (i >> j) & 1 else -1.0 for j in range(8)]
                            for i in range(256)])


def _rows(x: torch.Tensor) -> torch.Tensor:
    """``x`` for the kernels: contiguous, or its dims from 1 flattened into rows of contiguous
    elements (a slice of channels), copied only where neither is possible."""
    if x.is_contiguous() or x.dim() < 2:
        return x.contiguous()
    rows = x.flatten(1)
    return rows if rows.stride(-1) == 1 else rows.contiguous()


def _sign(x: torch.Tensor) -> torch.Tensor:
    ops = kernel_ready(x)
    return sign(x) if ops is None else ops.train_sign(_rows(x)).view(x.shape)


def pack_signs(x: torch.Tensor) -> torch.Tensor:
    """:func:`pack_bits` of ``x >= 0``."""
    ops = kernel_ready(x)
    if ops is None:
        return pack_bits(x >= 0)
    return ops.train_sign_encode(_rows(x), 0.0, False, False)[1]


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """A bool tensor packed 8 elements to a byte along its flattened (C-order) elements, element
    ``8 i + j`` at bit ``j`` (LSB first) of byte ``i``; the tail padded with 0 bits. uint8, 1-D."""
    flat = mask.reshape(-1)
    if flat.numel() % 8:
        flat = torch.cat([flat, flat.new_zeros(8 - flat.numel() % 8)])
    v = flat.view(torch.uint8).view(torch.int64)
    return (v * _PACK).bitwise_right_shift_(56).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, shape) -> torch.Tensor:
    """The bool tensor of ``shape`` that :func:`pack_bits` packed."""
    n = 1
    for s in shape:
        n *= s
    v = packed.to(torch.int64).mul_(_SPREAD).bitwise_and_(_SELECT)
    return v.view(torch.uint8)[:n].ne(0).view(shape)


def unpack_signs(packed: torch.Tensor, shape, dtype=torch.float32) -> torch.Tensor:
    """+1 where the packed bit is set, -1 where not, as a float tensor of ``shape`` (a table
    lookup, one byte -> 8 floats)."""
    n = 1
    for s in shape:
        n *= s
    if dtype == torch.float32 and kernel_ready(packed.new_empty(0, dtype=dtype)) is not None:
        return kernel_ready().train_unpack_signs(packed, n).view(shape)
    table = _SIGN_TABLE.to(device=packed.device, dtype=dtype)
    return table.index_select(0, packed.to(torch.int64)).view(-1)[:n].view(shape)


def saved_bits(saved) -> int:
    """Bits held by the tensors of ``saved`` (for tests and benchmarks)."""
    return sum(8 * t.numel() * t.element_size() for t in saved if isinstance(t, torch.Tensor))


class SignGrad:
    """The surrogate gradient of ``q(x) = sign(x)`` (``sign(0) = +1``) as a fused layer uses it.

    ``encode(x) -> (signs, saved)``: the float signs the layer computes with, and the tensors to
    keep. ``signs(saved, shape)``: the float signs again. ``grad(saved, grad_signs, shape)``:
    ``dL/dx = dL/dq * dq/dx``. ``x`` is the binarizer's input after its threshold, if any.
    """
    #: Whether ``grad`` reproduces the binarizer's own gradient to float rounding.
    exact: bool = True

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, tuple]:
        ops = kernel_ready(x)
        if ops is None:
            return sign(x), (pack_bits(x >= 0), )
        signs, bits, _ = ops.train_sign_encode(_rows(x), 0.0, True, False)
        return signs.view(x.shape), (bits, )

    def signs(self, saved: tuple, shape, dtype=torch.float32) -> torch.Tensor:
        return unpack_signs(saved[0], shape, dtype)

    def grad(self, saved: tuple, grad_signs: torch.Tensor, shape,
             inplace: bool = False) -> torch.Tensor:
        """``inplace``: ``grad_signs`` is the caller's own buffer, which may hold the result."""
        raise NotImplementedError


class IdentityGrad(SignGrad):
    """``dq/dx = 1`` (BinaryConnect's straight-through estimator): keeps the packed signs."""

    def grad(self, saved, grad_signs, shape, inplace=False):
        return grad_signs


class ClipGrad(SignGrad):
    """``dq/dx = 1`` where ``|x| <= clip``, else 0 (BNN's clipped STE): keeps the packed signs
    and the packed mask, 2 bits per element."""

    def __init__(self, clip: float):
        self.clip = float(clip)

    def encode(self, x):
        ops = kernel_ready(x)
        if ops is None:
            return sign(x), (pack_bits(x >= 0), pack_bits(x.abs() <= self.clip))
        signs, bits, mask = ops.train_sign_encode(_rows(x), self.clip, True, True)
        return signs.view(x.shape), (bits, mask)

    def grad(self, saved, grad_signs, shape, inplace=False):
        ops = kernel_ready(grad_signs)
        if ops is None:
            return grad_signs * unpack_bits(saved[1], shape)
        if inplace and grad_signs.is_contiguous():
            ops.train_masked_grad_(grad_signs, saved[1])
            return grad_signs.view(shape)
        return ops.train_masked_grad(grad_signs.contiguous(), saved[1]).view(shape)


class FunctionGrad(SignGrad):
    """``dq/dx = slope(x)`` for any elementwise ``slope``: keeps the float input, exactly as the
    binarizer's own function does (the signs are recomputed from it).

    Args:
        slope (callable): ``x -> dq/dx`` (a tensor of ``x``'s shape, or broadcasting to it).
    """

    def __init__(self, slope: Callable[[torch.Tensor], torch.Tensor]):
        self.slope = slope

    def encode(self, x):
        return _sign(x), (x, )

    def signs(self, saved, shape, dtype=torch.float32):
        return _sign(saved[0])

    def grad(self, saved, grad_signs, shape, inplace=False):
        slope = self.slope(saved[0])
        return grad_signs.mul_(slope) if inplace else grad_signs * slope


def approx_slope(x: torch.Tensor) -> torch.Tensor:
    """Bi-Real Net's ApproxSign gradient ``max(2 - 2|x|, 0)``."""
    return (2 - 2 * x.abs()).clamp_min(0)


class ApproxGrad(FunctionGrad):
    """ApproxSign's ``dq/dx = max(2 - 2|x|, 0)`` (Bi-Real Net).

    Args:
        bits (int, optional): None keeps the float input (exact). 8 or 16 keeps the packed
            signs and ``|x|`` rounded to ``L = 2^bits - 1`` (8) or ``2^15 - 1`` (16) levels on
            [0, 1], ``|x| >= 1`` at level L: 9 or 17 bits per element, the slope off by at most
            ``1 / L``. Default: None.
    """
    _LEVELS = {8: (255, torch.uint8), 16: (32767, torch.int16)}

    def __init__(self, bits: Optional[int] = None):
        super().__init__(approx_slope)
        if bits is not None and bits not in self._LEVELS:
            raise ValueError(f'ApproxGrad bits must be None (exact), 8 or 16, got {bits!r}')
        self.bits = bits
        self.exact = bits is None

    def encode(self, x):
        if self.bits is None:
            return super().encode(x)
        levels, dtype = self._LEVELS[self.bits]
        code = x.abs().clamp_(max=1.0).mul_(levels).round_().to(dtype)
        return _sign(x), (pack_signs(x), code)

    def signs(self, saved, shape, dtype=torch.float32):
        if self.bits is None:
            return super().signs(saved, shape, dtype)
        return unpack_signs(saved[0], shape, dtype)

    def grad(self, saved, grad_signs, shape, inplace=False):
        if self.bits is None:
            ops = kernel_ready(saved[0], grad_signs)
            if ops is None:
                return super().grad(saved, grad_signs, shape, inplace)
            if inplace and grad_signs.is_contiguous():
                ops.train_approx_grad_(_rows(saved[0]), grad_signs)
                return grad_signs.view(shape)
            return ops.train_approx_grad(_rows(saved[0]), grad_signs.contiguous()).view(shape)
        levels, _ = self._LEVELS[self.bits]
        slope = saved[1].to(grad_signs.dtype).mul_(-2.0 / levels).add_(2.0)
        return grad_signs.mul_(slope) if inplace else grad_signs * slope


class _SignWithRule(Function):
    """``q(x) = sign(x)`` with the gradient and the saved tensors of a :class:`SignGrad`."""

    @staticmethod
    def forward(ctx, x, rule):
        signs, saved = rule.encode(x)
        ctx.rule, ctx.shape = rule, x.shape
        ctx.save_for_backward(*saved)
        return signs

    @staticmethod
    def backward(ctx, grad_output):
        return ctx.rule.grad(ctx.saved_tensors, grad_output, ctx.shape), None


def sign_with(x: torch.Tensor, rule: SignGrad) -> torch.Tensor:
    """``sign(x)`` whose backward is ``rule``'s (and which keeps what ``rule`` keeps)."""
    return _SignWithRule.apply(x, rule)
