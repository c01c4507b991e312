"""Sparse binary convolution: 0/1 weight masks against packed {-1, +1} activations.

Sparse binary networks (Schiavone et al.; see ``configs/sparse``) give each layer the weights
``w = tau * m + phi`` with a 0/1 mask ``m`` (SBNN's authors: one ``(tau, phi)`` per layer).
Then, with zero padding,

    conv(x, w) = tau * conv(x, m) + phi * window(x),
    conv(x, m)[o, p] = sum over active weights (c, t) of x[c, p + t]
                     = sum_(t, j) popcount(m_oj) - 2 popcount(a_j AND m_oj)
    window(x)[p]     = sum over the taps of sum_c x[c, p + t]          (the all-ones filter)

with ``a`` the packed activation bits (bit 1 = -1, :mod:`mmbnn.ops.bitpack`). Only the
(tap, 64-channel word) pairs of a filter that hold an active weight are visited: all-zero kxk
kernels (over a word of input channels) and all-zero filters cost nothing, as the authors'
sparse conv skips all-zero 3x3 kernels. A kernel function only: no model uses it yet.
"""
from typing import Tuple

import torch

from .binary_conv import IntPair, pair
from .bitpack import TORCH_ISA, check_cpu_tensor, kernel_isa, pack_weights

__all__ = ['pack_masks', 'sparse_binary_conv2d']


def pack_masks(mask: torch.Tensor) -> torch.Tensor:
    """0/1 masks (C_out, C_in, KH, KW) -> int64 words (C_out, KH * KW * Wg), bit 1 = active,
    in the layout of :func:`~mmbnn.ops.pack_weights`."""
    if mask.dim() != 4 or not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError('masks must be (C_out, C_in, KH, KW) of 0s and 1s')
    return pack_weights(-mask.float())  # pack_weights sets the bit of negative entries


def sparse_binary_conv2d(x: torch.Tensor, masks: torch.Tensor, in_channels: int,
                         kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0,
                         dilation: IntPair = 1, isa=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(conv(x, m), window(x))`` as int32 (N, C_out, OH, OW) and (N, 1, OH, OW), zero padding.

    Args:
        x (Tensor): Packed activations (N, H, W, 1, Wg) (:func:`~mmbnn.ops.pack_activations`).
        masks (Tensor): Packed masks from :func:`pack_masks`.
        in_channels (int): Input channels.
        kernel_size, stride, padding, dilation: As for ``F.conv2d`` (ints or pairs).
        isa (str, optional): ``'generic'`` for the portable popcount, ``'torch'`` for the
            pure-PyTorch path, else the popcnt instruction where the CPU has it. Default: None
            (auto).
    """
    check_cpu_tensor(x, 'x (packed activations)', torch.int64, 5)
    check_cpu_tensor(masks, 'masks (packed)', torch.int64, 2)
    geometry = [list(pair(v, name)) for v, name in ((kernel_size, 'kernel_size'),
                                                    (stride, 'stride'), (padding, 'padding'),
                                                    (dilation, 'dilation'))]
    code = kernel_isa(isa)
    if code == TORCH_ISA:
        from . import _torch_ops
        if x.shape[3] != 1:
            raise ValueError(f'sparse_binary_conv2d expects packed activations (N, H, W, 1, '
                             f'words), got {tuple(x.shape)}')
        return _torch_ops.sparse_conv2d(x, int(in_channels), masks, *geometry)
    return torch.ops.mmbnn.sparse_conv2d(x.contiguous(), int(in_channels), masks.contiguous(),
                                         *geometry, code)
