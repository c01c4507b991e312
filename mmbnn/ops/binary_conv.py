"""Bit-packed binary convolution: xor + popcount over packed words, with a fused epilogue.

For output channel ``o`` of group ``g`` and output pixel ``p``::

    dot[o, p] = n - 2 * sum_taps popcount(a[p, tap] XOR w[o, tap])      (n = KH * KW * C_in/g)
              - (1 - pad_value) * sum_{taps outside the input} sum_c w[o, c, tap]

The first line treats the padded border as +1 (all-zero words, what ``pad_value=1`` means); the
second corrects it exactly for any other ``pad_value`` (0: zero padding). Then, per output
channel, the epilogue ``y = post_scale * act(scale * dot + shift) + post_shift`` (``act`` ReLU
or identity), where a following BN, a weight scale, a bias and K-base lambdas fold into
``scale``/``shift``/``post_*``; and optionally ``bits = not (y - threshold >= 0)``, packed, for
a next layer that is binary too.
"""
from typing import Optional, Sequence, Tuple, Union

import torch

from .bitpack import kernel_isa, load_kernels

__all__ = ['binary_conv2d', 'conv_output_size', 'per_group_pairs', 'OUT_MODES']

#: Output modes: integer dot products, floats after the epilogue, or packed sign bits.
OUT_MODES = {'dot': 0, 'float': 1, 'bits': 2}

IntPair = Union[int, Sequence[int]]


def _pair(v: IntPair, name: str) -> Tuple[int, int]:
    if isinstance(v, int):
        return v, v
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f'{name} must be an int or a pair, got {v!r}')
    return v


def per_group_pairs(value, groups: int, name: str) -> torch.Tensor:
    """An int, a pair, or one int/pair per group -> int64 (groups, 2)."""
    if isinstance(value, int) or (isinstance(value, Sequence) and len(value) == 2 and all(
            isinstance(v, int) for v in value)):
        rows = [_pair(value, name)] * groups
    else:
        if len(value) != groups:
            raise ValueError(f'{name} needs one value per group ({groups}), got {value!r}')
        rows = [_pair(v, name) for v in value]
    return torch.tensor(rows, dtype=torch.int64).reshape(groups, 2)


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def binary_conv2d(x: torch.Tensor, weight: torch.Tensor, in_channels: int,
                  kernel_size: IntPair, stride: IntPair = 1, padding=0, dilation=1,
                  groups: int = 1, pad_value: float = 1.0, out: str = 'float',
                  scale: Optional[torch.Tensor] = None, shift: Optional[torch.Tensor] = None,
                  relu: bool = False, post_scale: Optional[torch.Tensor] = None,
                  post_shift: Optional[torch.Tensor] = None,
                  out_threshold: Optional[torch.Tensor] = None, out_groups: int = 1,
                  isa: Optional[str] = None) -> torch.Tensor:
    """Binary conv of packed activations with packed weights.

    Args:
        x (Tensor): Packed activations (N, H, W, G_in, Wg) from
            :func:`~mmbnn.ops.pack_activations`. Conv group ``g`` reads packed group
            ``g % G_in``: ``G_in = groups`` is the usual grouped conv; ``G_in = groups / K``
            serves K bases (base-major groups) from ONE packed copy of their shared input.
        weight (Tensor): Packed weights (C_out, KH * KW * Wg) from
            :func:`~mmbnn.ops.pack_weights`.
        in_channels (int): Input channels per group (the true count, for ``n``).
        kernel_size, stride: As for ``F.conv2d``.
        padding, dilation: An int, a pair, or one int/pair per conv group (BPAC's bases).
        groups (int): Conv groups. Default: 1.
        pad_value (float): Value of the padded border; 1 is free, others are corrected
            exactly (``out='dot'`` needs an integer). Default: 1.0.
        out (str): ``'dot'`` (int32 dot products, before the epilogue), ``'float'`` (float32
            epilogue output) or ``'bits'`` (packed sign bits of the epilogue output).
            Default: 'float'.
        scale, shift, post_scale, post_shift (Tensor, optional): Per output channel (C_out).
        relu (bool): ReLU between the two affine steps. Default: False.
        out_threshold (Tensor, optional): Thresholds for ``out='bits'`` (C_out). Default: 0.
        out_groups (int): Word groups of the bits output (the next conv's groups). Default: 1.
        isa (str, optional): Instruction set (``'auto'``, ``'generic'``, ``'popcnt'``,
            ``'avx2'``). Default: None (``$MMBNN_BITPACK_ISA`` or auto).

    Returns:
        Tensor: int32 or float32 (N, C_out, OH, OW), or int64 words (N, OH, OW, out_groups,
        ceil(C_out / out_groups / 64)).
    """
    load_kernels()
    if out not in OUT_MODES:
        raise ValueError(f'out must be one of {sorted(OUT_MODES)}, got {out!r}')
    if out == 'dot' and float(pad_value) != int(pad_value):
        raise ValueError(f"out='dot' gives integers: pad_value must be an integer, got "
                         f'{pad_value}')
    kh, kw = _pair(kernel_size, 'kernel_size')
    sh, sw = _pair(stride, 'stride')
    pad = per_group_pairs(padding, groups, 'padding')
    dil = per_group_pairs(dilation, groups, 'dilation')
    _, h, w = x.shape[:3]
    oh = conv_output_size(h, kh, sh, int(pad[0, 0]), int(dil[0, 0]))
    ow = conv_output_size(w, kw, sw, int(pad[0, 1]), int(dil[0, 1]))
    if oh < 1 or ow < 1:
        raise ValueError(f'input {h}x{w} is too small for kernel {kh}x{kw} with padding '
                         f'{pad[0].tolist()} and dilation {dil[0].tolist()}')

    def vec(t):
        return None if t is None else t.detach().reshape(-1).float().contiguous()

    return torch.ops.mmbnn.binary_conv2d(
        x.contiguous(), int(in_channels), weight.contiguous(), int(groups), [kh, kw], [sh, sw],
        [oh, ow], pad, dil, float(pad_value), OUT_MODES[out], vec(scale), vec(shift),
        bool(relu), vec(post_scale), vec(post_shift), vec(out_threshold), int(out_groups),
        kernel_isa(isa))
