"""Bit-packed binary convolution: xor + popcount over packed words, with a fused epilogue.

For output channel ``o`` of group ``g`` and output pixel ``p``::

    dot[o, p] = n - 2 * sum_taps popcount(a[p, tap] XOR w[o, tap])      (n = KH * KW * C_in/g)
              - (1 - pad_value) * sum_{taps outside the input} sum_c w[o, c, tap]

The first line treats the padded border as +1 (all-zero words, what ``pad_value=1`` means); the
second corrects it exactly for any other ``pad_value`` (0: zero padding). Then, per output
channel (each step optional)::

    z = scale * dot + shift                 (the weight scale, a bias, a folded BN)
    z = act(z)                              (ReLU, PReLU, RPReLU: :class:`Activation`)
    z = post_scale * z + post_shift         (a BN after the activation)
    z = z + residual_scale * residual       (a real-valued shortcut, channels-last)
    z = act2(z)                             (an activation after the addition)

and, with ``sum_bases=K``, the output is the sum of the K bases' ``z`` (base k holds the groups
``k G / K ...``; Group-Net's lambda-weighted sum with lambda folded into the scales), added in
base order. ``out='bits'`` packs the result's signs (``not (y - out_threshold >= 0)``) for a next
layer that is binary too, as :func:`~mmbnn.ops.pack_activations` would, without a float round
trip; ``out='float+bits'`` returns both (a real-valued residual stream that also feeds a binary
conv). Float outputs are channels-last (N, C, OH, OW) tensors.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import torch

from .bitpack import TORCH_ISA, _threshold, check_cpu_tensor, kernel_isa, num_words

__all__ = ['binary_conv2d', 'run_binary_conv2d', 'conv_output_size', 'group_pairs',
           'Activation', 'RELU', 'OUT_MODES', 'pair']

#: Output modes and their codes in the C++ core (a bit mask: 1 dot, 2 float, 4 bits).
OUT_MODES = {'dot': 1, 'float': 2, 'bits': 4, 'float+bits': 6}

IntPair = Union[int, Tuple[int, int]]


@dataclass(frozen=True)
class Activation:
    """``y = v if v > 0 else slope * v`` with ``v = x - pre``, then ``y + post``, per output
    channel; ``slope=None`` is ReLU (``max(v, 0)``). PReLU: ``slope``; ReActNet's RPReLU:
    ``pre``, ``slope`` and ``post``. Tensors of C_out values (None: absent)."""
    pre: Optional[torch.Tensor] = None
    slope: Optional[torch.Tensor] = None
    post: Optional[torch.Tensor] = None


RELU = Activation()


def pair(v, name: str) -> Tuple[int, int]:
    """An int (both dimensions) or a tuple ``(h, w)`` of two ints; anything else is refused."""
    if isinstance(v, bool):
        raise TypeError(f'{name} must be an int or a tuple (h, w), got {v!r}')
    if isinstance(v, int):
        return v, v
    if isinstance(v, tuple) and len(v) == 2 and all(
            isinstance(i, int) and not isinstance(i, bool) for i in v):
        return int(v[0]), int(v[1])
    if isinstance(v, list):
        raise TypeError(f'{name}={v!r}: give (h, w) as a tuple; per-group values go in '
                        f'group_{name}=[...]')
    raise TypeError(f'{name} must be an int or a tuple (h, w) of ints, got {v!r}')


def group_pairs(value, per_group, groups: int, name: str) -> torch.Tensor:
    """int64 (groups, 2): ``value`` (an int or (h, w)) for every group, or ``per_group``, a list
    with one int or (h, w) per group."""
    if per_group is None:
        rows = [pair(value, name)] * groups
    else:
        if not isinstance(per_group, (list, tuple)) or len(per_group) != groups:
            raise ValueError(f'group_{name} needs one int or (h, w) per group ({groups}), got '
                             f'{per_group!r}')
        rows = [pair(v, f'group_{name}[{i}]') for i, v in enumerate(per_group)]
    return torch.tensor(rows, dtype=torch.int64).reshape(groups, 2)


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """The output size of a conv (0 when the dilated kernel does not fit the padded input)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    return span // stride + 1 if span >= 0 else 0


def _channels(t, n: int, name: str):
    if t is None:
        return None
    check_cpu_tensor(t, name)
    v = t.detach().reshape(-1).float().contiguous()
    if v.numel() != n:
        raise ValueError(f'{name} must hold {n} values (one per output channel), got {v.numel()}')
    return v


def _activation(act, n: int, name: str):
    """``(on, pre, slope, post)`` of an activation argument."""
    if act is None or act is False:
        return 0, None, None, None
    if act is True or act == 'relu':
        return 1, None, None, None
    if not isinstance(act, Activation):
        raise TypeError(f"{name} must be None, 'relu' or an mmbnn.ops.Activation, got {act!r}")
    return (1, _channels(act.pre, n, f'{name}.pre'), _channels(act.slope, n, f'{name}.slope'),
            _channels(act.post, n, f'{name}.post'))


def binary_conv2d(x: torch.Tensor, weight: torch.Tensor, in_channels: int,
                  kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0,
                  dilation: IntPair = 1, groups: int = 1, pad_value: float = 1.0, *,
                  group_padding: Optional[Sequence[IntPair]] = None,
                  group_dilation: Optional[Sequence[IntPair]] = None,
                  out: str = 'float', prepared: Optional[torch.Tensor] = None,
                  scale: Optional[torch.Tensor] = None, shift: Optional[torch.Tensor] = None,
                  act: Union[None, str, Activation] = None, relu: bool = False,
                  post_scale: Optional[torch.Tensor] = None,
                  post_shift: Optional[torch.Tensor] = None,
                  residual: Optional[torch.Tensor] = None,
                  residual_scale: Optional[torch.Tensor] = None,
                  act2: Union[None, str, Activation] = None, sum_bases: int = 1,
                  out_threshold: Optional[torch.Tensor] = None, out_groups: int = 1,
                  out_repeat: int = 1, isa: Optional[str] = None):
    """Binary conv of packed activations with packed weights and a fused epilogue.

    Args:
        x (Tensor): Packed activations (N, H, W, G_in, Wg) from
            :func:`~mmbnn.ops.pack_activations` or a previous ``out='bits'``. Conv group ``g``
            reads packed group ``g % G_in``: ``G_in = groups`` is the usual grouped conv;
            ``G_in = groups / K`` serves K bases (base-major groups) from ONE packed copy of
            their shared input.
        weight (Tensor): Packed weights (C_out, KH * KW * Wg) from
            :func:`~mmbnn.ops.pack_weights`.
        in_channels (int): Input channels per group (the true count, for ``n``).
        kernel_size, stride, padding, dilation (int | tuple): An int or a tuple ``(h, w)``
            (lists are refused: per-group values go in ``group_padding``/``group_dilation``).
        groups (int): Conv groups. Default: 1.
        pad_value (float): Value of the padded border; 1 is free, others are corrected exactly
            (``out='dot'`` needs an integer). Default: 1.0.
        group_padding, group_dilation (list, optional): One int or (h, w) per conv group (BPAC's
            bases); every group must give the same output size. Default: None.
        out (str): ``'dot'`` (int32 dot products, no epilogue), ``'float'``, ``'bits'`` or
            ``'float+bits'``. Default: 'float'.
        prepared (Tensor, optional): ``mmbnn.ops.prepare_weights(weight, groups)`` for this ISA.
        scale, shift, post_scale, post_shift, residual_scale (Tensor, optional): Per output
            channel (C_out values).
        act, act2 (str | Activation, optional): ``'relu'`` or an :class:`Activation` (module
            docstring). ``relu=True`` is ``act='relu'``.
        residual (Tensor, optional): A real-valued shortcut (N, R, OH, OW), channels-last
            float32, with R = C_out (one per conv channel) or a divisor of C_out that is a
            multiple of C_out / groups (one shortcut for every base).
        sum_bases (int): K: sum the K bases' outputs (base-major groups). Default: 1.
        out_threshold (Tensor, optional): Thresholds of the bits output (``out_repeat * C``
            values, C the output channels). Default: None (0).
        out_groups (int): Word groups of the bits output (the next conv's groups). Default: 1.
        out_repeat (int): Packed copies with their own thresholds (the next layer's K bases).
            Default: 1.
        isa (str, optional): Implementation (see :data:`mmbnn.ops.ISAS`). Default: None
            (``$MMBNN_BITPACK_ISA`` or auto).

    Returns:
        Tensor | tuple: int32 (N, C_out, OH, OW), float32 (N, C_out / sum_bases, OH, OW), both
        channels-last, or int64 words (N, OH, OW, out_repeat * out_groups, Wgo); a (float,
        bits) pair for ``'float+bits'``.
    """
    if out not in OUT_MODES:
        raise ValueError(f'out must be one of {sorted(OUT_MODES)}, got {out!r}')
    check_cpu_tensor(x, 'x (packed activations)', torch.int64, 5)
    check_cpu_tensor(weight, 'weight (packed)', torch.int64, 2)
    groups, sum_bases = int(groups), int(sum_bases)
    out_groups, out_repeat = int(out_groups), int(out_repeat)
    n, h, w, gin, wg = x.shape
    cout = weight.shape[0]
    if groups < 1 or cout % groups or groups % gin:
        raise ValueError(f'groups ({groups}) must divide C_out ({cout}) and be a multiple of the '
                         f"packed input's groups ({gin})")
    if in_channels < 1 or num_words(in_channels) != wg:
        raise ValueError(f'in_channels ({in_channels}) per group needs {num_words(max(1, in_channels))} '
                         f'words; the packed input x has {wg} per group')
    kh, kw = pair(kernel_size, 'kernel_size')
    sh, sw = pair(stride, 'stride')
    if min(kh, kw, sh, sw) < 1:
        raise ValueError(f'kernel_size and stride must be >= 1, got {(kh, kw)} and {(sh, sw)}')
    if weight.shape[1] != kh * kw * num_words(in_channels):
        raise ValueError(f'weight has {weight.shape[1]} words per output channel; a {kh}x{kw} '
                         f'kernel over {in_channels} channels needs {kh * kw * wg}')
    pad = group_pairs(padding, group_padding, groups, 'padding')
    dil = group_pairs(dilation, group_dilation, groups, 'dilation')
    if bool((pad < 0).any()) or bool((dil < 1).any()):
        raise ValueError(f'padding must be >= 0 and dilation >= 1, got {pad.tolist()} and '
                         f'{dil.tolist()}')
    sizes = {(conv_output_size(h, kh, sh, int(p[0]), int(d[0])),
              conv_output_size(w, kw, sw, int(p[1]), int(d[1]))) for p, d in zip(pad, dil)}
    if len(sizes) != 1:
        raise ValueError(f'the groups give different output sizes {sorted(sizes)}')
    oh, ow = sizes.pop()
    if oh < 1 or ow < 1:
        raise ValueError(f'input {h}x{w} is smaller than the {kh}x{kw} kernel with padding '
                         f'{pad[0].tolist()} and dilation {dil[0].tolist()}')
    if out == 'dot':
        if float(pad_value) != int(pad_value):
            raise ValueError(f"out='dot' gives integers: pad_value must be an integer, got "
                             f'{pad_value}')
        if sum_bases != 1 or any(v is not None for v in (scale, shift, post_scale, post_shift,
                                                         residual, residual_scale, act, act2)):
            raise ValueError("out='dot' has no epilogue: no scale, shift, act, residual or sums")
    if sum_bases < 1 or groups % sum_bases:
        raise ValueError(f'sum_bases ({sum_bases}) must divide groups ({groups})')
    cfin = cout // sum_bases
    if out_groups < 1 or cfin % out_groups or out_repeat < 1:
        raise ValueError(f'out_groups ({out_groups}) must divide the output channels ({cfin}) '
                         f'and out_repeat ({out_repeat}) be >= 1')
    if relu:
        if act is not None:
            raise ValueError('give either relu=True or act, not both')
        act = 'relu'
    a1 = _activation(act, cout, 'act')
    a2 = _activation(act2, cout, 'act2')
    if (post_scale is None) != (post_shift is None):
        raise ValueError('post_scale and post_shift go together')
    if residual is not None:
        check_cpu_tensor(residual, 'residual', dim=4)
        r = residual.shape[1]
        if tuple(residual.shape) != (n, r, oh, ow) or cout % r or r % (cout // groups):
            raise ValueError(f'residual must be (N={n}, R, {oh}, {ow}) with R dividing C_out '
                             f'({cout}) and a multiple of C_out / groups, got '
                             f'{tuple(residual.shape)}')
        residual = residual.float().contiguous(memory_format=torch.channels_last)
    args = dict(scale=_channels(scale, cout, 'scale'), shift=_channels(shift, cout, 'shift'),
                act=a1, post_scale=_channels(post_scale, cout, 'post_scale'),
                post_shift=_channels(post_shift, cout, 'post_shift'), residual=residual,
                residual_scale=_channels(residual_scale, cout, 'residual_scale'), act2=a2,
                sum_bases=sum_bases,
                out_threshold=_threshold(out_threshold, cfin, out_repeat, 'out_threshold'),
                out_groups=out_groups, out_repeat=out_repeat)
    outs = run_binary_conv2d(
        x.contiguous(), int(in_channels), weight.contiguous(), prepared, groups, (kh, kw),
        (sh, sw), pad, dil, float(pad_value), OUT_MODES[out], kernel_isa(isa), **args)
    return tuple(outs) if out == 'float+bits' else outs[0]


def run_binary_conv2d(x, in_channels: int, weight, prepared, groups: int, kernel, stride,
                      pad: torch.Tensor, dil: torch.Tensor, pad_value: float, mode: int, code: int,
                      *, scale=None, shift=None, act=(0, None, None, None), post_scale=None,
                      post_shift=None, residual=None, residual_scale=None,
                      act2=(0, None, None, None), sum_bases: int = 1, out_threshold=None,
                      out_groups: int = 1, out_repeat: int = 1):
    """:func:`binary_conv2d` without the argument checks, for callers whose arguments are right
    by construction (the inference modules of :mod:`mmbnn.deploy`): ``pad``/``dil`` int64
    (groups, 2), per-channel tensors contiguous float32, ``act``/``act2`` ``(on, pre, slope,
    post)``, ``mode`` and ``code`` as codes. Returns the list of outputs."""
    if code == TORCH_ISA:
        from . import _torch_ops
        return _torch_ops.binary_conv2d(
            x, in_channels, weight, groups, tuple(kernel), tuple(stride), pad, dil, pad_value,
            mode, scale=scale, shift=shift, act=act, post_scale=post_scale,
            post_shift=post_shift, residual=residual, residual_scale=residual_scale, act2=act2,
            sum_bases=sum_bases, out_threshold=out_threshold, out_groups=out_groups,
            out_repeat=out_repeat)
    if prepared is not None:
        check_cpu_tensor(prepared, 'prepared', torch.int64, 1)
    return torch.ops.mmbnn.binary_conv2d(
        x, in_channels, weight, prepared, groups, list(kernel), list(stride), pad, dil,
        pad_value, mode, scale, shift, *act, post_scale, post_shift, residual, residual_scale,
        *act2, sum_bases, out_threshold, out_groups, out_repeat, code)
