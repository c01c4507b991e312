"""The pure-PyTorch implementation of :mod:`mmbnn.ops` (``isa='torch'``).

It runs where the compiled extension could not be built (``mmbnn.ops`` then warns once) and is the
tests' independent path: the same integers, floats and bits as every compiled ISA. Dot products
are exact (float64 convolutions of {-1, +1}); the float epilogue repeats the C++ core's
operations one by one in float32, in its order (:mod:`mmbnn.ops.binary_conv`), so that the
results are equal bit for bit, not only close. Slow (10-100x the kernels); for correctness, not
speed.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .bitpack import pack_signs, unpack_activations, unpack_weights

__all__ = ['binary_conv2d', 'sparse_conv2d']

_CL = torch.channels_last


def _vec(t: torch.Tensor) -> torch.Tensor:
    """C per-channel values as (C, 1, 1), to broadcast over (N, C, H, W)."""
    return t.view(-1, 1, 1)


def _act(z: torch.Tensor, act) -> torch.Tensor:
    """``act = (on, pre, slope, post)``: ``v = z - pre; v if v > 0 else slope * v; + post``."""
    on, pre, slope, post = act
    if not on:
        return z
    if pre is not None:
        z = z - _vec(pre)
    neg = torch.zeros((), dtype=z.dtype) if slope is None else _vec(slope) * z
    z = torch.where(z > 0, z, neg)
    if post is not None:
        z = z + _vec(post)
    return z


def _padded_conv(x: torch.Tensor, w: torch.Tensor, stride, pad, dil, value: float):
    ph, pw = pad
    return F.conv2d(F.pad(x, (pw, pw, ph, ph), value=value), w, None, stride, 0, dil)


def binary_conv2d(x: torch.Tensor, cin: int, weight: torch.Tensor, groups: int,
                  kernel: Tuple[int, int], stride: Tuple[int, int], pad: torch.Tensor,
                  dil: torch.Tensor, pad_value: float, mode: int, *, scale, shift, act,
                  post_scale, post_shift, residual, residual_scale, act2, sum_bases: int,
                  out_threshold, out_groups: int, out_repeat: int) -> List[torch.Tensor]:
    """The arguments as :func:`mmbnn.ops.binary_conv2d` normalises them (``pad``/``dil``:
    (groups, 2); ``act``: ``(on, pre, slope, post)``; ``mode``: 1 dot, 2 float, 4 bits)."""
    n, h, w, gin, _ = x.shape
    cout = weight.shape[0]
    cog = cout // groups
    signs = unpack_activations(x, gin * cin, torch.float64)
    wsign = unpack_weights(weight, cin, kernel, torch.float64)
    dot1, corr = [], []
    for g in range(groups):
        gi = g % gin
        xin = signs[:, gi * cin:(gi + 1) * cin]
        wg = wsign[g * cog:(g + 1) * cog]
        p, d = tuple(int(v) for v in pad[g]), tuple(int(v) for v in dil[g])
        dot1.append(_padded_conv(xin, wg, stride, p, d, 1.0))  # +1 padding
        border = torch.zeros(1, cin, h, w, dtype=torch.float64)
        corr.append(_padded_conv(border, wg, stride, p, d, 1.0).expand(n, -1, -1, -1))
    dot1, corr = torch.cat(dot1, 1), torch.cat(corr, 1)
    outs = []
    if mode & 1:
        dot = dot1 - int(1 - pad_value) * corr
        return [dot.to(torch.int32).contiguous(memory_format=_CL)]
    z = dot1.float()
    if pad_value != 1.0:
        z = z - torch.tensor(1.0 - pad_value, dtype=torch.float32) * corr.float()
    z = (_vec(torch.ones(cout) if scale is None else scale) * z +
         _vec(torch.zeros(cout) if shift is None else shift))
    z = _act(z, act)
    if post_scale is not None:
        z = _vec(post_scale) * z + _vec(post_shift)
    if residual is not None:
        r = residual.float()[:, torch.arange(cout) % residual.shape[1]]
        z = z + (r if residual_scale is None else _vec(residual_scale) * r)
    z = _act(z, act2)
    cfin = cout // sum_bases
    y = z[:, :cfin]
    for k in range(1, sum_bases):
        y = y + z[:, k * cfin:(k + 1) * cfin]
    y = y.contiguous(memory_format=_CL)
    if mode & 2:
        outs.append(y)
    if mode & 4:
        outs.append(pack_signs(y, out_threshold, out_groups, out_repeat))
    return outs


def sparse_conv2d(x: torch.Tensor, cin: int, masks: torch.Tensor, kernel: Sequence[int],
                  stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int]
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(conv(x, m), window(x))`` of :func:`mmbnn.ops.sparse_binary_conv2d`, zero padding."""
    signs = unpack_activations(x, cin, torch.float64)
    m = (unpack_weights(masks, cin, tuple(kernel), torch.float64) < 0).double()  # bit 1 = active
    ones = torch.ones(1, cin, *kernel, dtype=torch.float64)
    conv = F.conv2d(signs, m, None, tuple(stride), tuple(padding), tuple(dilation))
    window = F.conv2d(signs, ones, None, tuple(stride), tuple(padding), tuple(dilation))
    return conv.to(torch.int32), window.to(torch.int32)
