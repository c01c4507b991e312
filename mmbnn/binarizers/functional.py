"""Functional cores of the binarizers: one small autograd function per surrogate gradient.

Every function maps 0 to +1 (``sign(0) = +1``) and saves for backward only what its gradient
needs: the clipped straight-through estimator keeps a boolean mask (1 byte per element), not the
float input (4 bytes).
"""
import torch
from torch.autograd import Function

__all__ = ['sign', 'ste_sign']


def sign(x: torch.Tensor) -> torch.Tensor:
    """``+1`` where ``x >= 0``, ``-1`` elsewhere (so ``sign(0) = +1``), in ``x``'s dtype."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


class _STESign(Function):
    """q(x) = sign(x); dq/dx = 1 where |x| <= clip, 0 elsewhere (BNN, Courbariaux et al. 2016)."""

    @staticmethod
    def forward(ctx, x, clip_value):
        ctx.save_for_backward(x.abs() <= clip_value)
        return sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        mask, = ctx.saved_tensors
        return grad_output * mask, None


class _IdentitySign(Function):
    """q(x) = sign(x); dq/dx = 1 (plain straight-through estimator). Saves nothing."""

    @staticmethod
    def forward(ctx, x):
        return sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def ste_sign(x: torch.Tensor, clip_value=1.0) -> torch.Tensor:
    """Sign with the straight-through estimator, clipped at ``|x| <= clip_value``
    (``clip_value=None``: not clipped)."""
    if clip_value is None:
        return _IdentitySign.apply(x)
    return _STESign.apply(x, clip_value)
