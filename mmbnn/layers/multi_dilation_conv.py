"""Binary Parallel Atrous Convolution (BPAC): the K bases of a grouped binary conv, one dilation
rate each (Group-Net, Zhuang et al., CVPR 2019)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from mmbnn.registry import MODELS, ROOT_MODELS
from .binary_conv import BinaryConv2d
from .binary_conv_function import Segment

__all__ = ['MultiDilationBinaryConv2d']


@MODELS.register_module()
@ROOT_MODELS.register_module()
class MultiDilationBinaryConv2d(BinaryConv2d):
    """K binary convs over K channel groups, base k with its own dilation rate ``d_k``.

    The layer holds the K bases of a Group-Net group as :class:`BinaryConv2d` does with
    ``groups=K``: input ``(N, K*C_in, H, W)``, weight ``(K*C_out, C_in/g, kh, kw)`` (base-major),
    output ``(N, K*C_out, H', W')``, so its state-dict keys and shapes are those of the grouped
    conv it replaces. Base k computes

    ``y_k = conv(pad_k(b_a(x_k)), b_w(W)_k, dilation=d_k, padding=p_k, groups=g)``

    with ``x_k`` = channels ``[k*C_in, (k+1)*C_in)`` and ``b_w(W)_k`` = rows
    ``[k*C_out, (k+1)*C_out)`` of the binarized weight. By default ``p_k = d_k (kh - 1) / 2``, so
    every base keeps the spatial size and the K outputs concatenate (BPAC: the bases of a group see
    K scales of context, like ASPP, at the cost of one binary conv).

    With a sign activation binarizer and a ``signs * scale`` weight binarizer every run is a
    segment of :class:`BinaryConv2d`'s fused function (integer sums, the scale applied after the
    conv, bits kept for backward); otherwise the reference path below.

    Both binarizers run ONCE over the whole input and weight, not per base. With per-output-channel
    weight scales (``XNORWeight``) or per-element activation binarizers this equals K separate
    :class:`BinaryConv2d` layers; a binarizer whose statistic spans the whole tensor
    (``LayerScaleWeight``) computes one statistic over all K bases, as the grouped conv of
    :class:`~mmbnn.models.backbones.GroupNetResNet` does. A grouped conv cannot mix dilations, so
    the bases run as one ``F.conv2d`` per run of consecutive bases with the same rate (K calls for
    K distinct rates, one call when all rates are equal).

    Args:
        in_channels (int): ``K * C_in``.
        out_channels (int): ``K * C_out``.
        kernel_size (int | tuple): As for :class:`torch.nn.Conv2d`.
        stride (int | tuple): Stride of every base. Default: 1.
        padding (int | Sequence, optional): None pads each base by ``d_k * (k - 1) // 2`` (same
            size for odd kernels); an int pads every base alike; a sequence of K ints or (h, w)
            pairs pads base k by ``padding[k]``. The K outputs must have the same size.
            Default: None.
        dilation (int): Must be 1: the rates are ``dilations``. Default: 1.
        groups (int): ``K * g`` for g groups per base; must be a multiple of K. Default: K.
        bias (bool): A bias per output channel. Default: True.
        padding_mode (str): As for :class:`torch.nn.Conv2d`, applied per base. Default: 'zeros'.
        act_binarizer, weight_binarizer, pad_value: As for :class:`BinaryConv2d`.
        dilations (Sequence[int]): ``[d_1, ..., d_K]``, one rate >= 1 per base; K = its length.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=None, dilation=1, groups: Optional[int] = None, bias: bool = True,
                 padding_mode: str = 'zeros',
                 act_binarizer: Optional[dict] = dict(type='STESign'),
                 weight_binarizer: Optional[dict] = dict(type='XNORWeight'),
                 pad_value: float = 0.0, dilations: Sequence[int] = (1, ), device=None,
                 dtype=None):
        if isinstance(dilations, int) or not isinstance(dilations, Sequence) or not dilations:
            raise ValueError(f'dilations must be a non-empty sequence of ints (one rate per '
                             f'base), got {dilations!r}')
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1
                   for d in dilations):
            raise ValueError(f'dilations must be ints >= 1, got {tuple(dilations)}')
        if _pair(dilation) != (1, 1):
            raise ValueError(f'MultiDilationBinaryConv2d takes its rates from dilations='
                             f'{tuple(dilations)}; dilation must be 1, got {dilation!r}')
        num_bases = len(dilations)
        groups = num_bases if groups is None else groups
        if groups % num_bases:
            raise ValueError(f'groups ({groups}) must be a multiple of K = len(dilations) '
                             f'({num_bases})')
        for name, channels in (('in_channels', in_channels), ('out_channels', out_channels)):
            if channels % groups:
                raise ValueError(f'{name} ({channels}) must be divisible by groups ({groups})')
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0,
                         dilation=1, groups=groups, bias=bias, padding_mode=padding_mode,
                         act_binarizer=act_binarizer, weight_binarizer=weight_binarizer,
                         pad_value=pad_value, device=device, dtype=dtype)
        self.num_bases = num_bases
        self.dilations = tuple(int(d) for d in dilations)
        self.base_paddings = self._base_paddings(padding)
        sizes = {tuple(2 * p - d * (k - 1) for p, d, k in zip(pad, _pair(dil), self.kernel_size))
                 for pad, dil in zip(self.base_paddings, self.dilations)}
        if len(sizes) != 1:
            raise ValueError(f'padding {self.base_paddings} with dilations {self.dilations} and '
                             f'kernel {self.kernel_size} gives bases of different output sizes')
        self._runs = self._equal_runs()

    def _base_paddings(self, padding) -> Tuple[Tuple[int, int], ...]:
        k = self.num_bases
        if padding is None:
            return tuple((d * (self.kernel_size[0] - 1) // 2, d * (self.kernel_size[1] - 1) // 2)
                         for d in self.dilations)
        if isinstance(padding, str):
            raise ValueError(f'padding={padding!r} is not supported; None pads each base to '
                             f'keep the size')
        if isinstance(padding, int):
            return (_pair(padding), ) * k
        if len(padding) != k:
            raise ValueError(f'padding needs one value per base (K = len(dilations) = {k}), '
                             f'got {padding!r}')
        return tuple(_pair(p) for p in padding)

    def _equal_runs(self) -> List[Tuple[int, int]]:
        """(first base, number of bases) of each run of consecutive bases with equal settings."""
        runs: List[Tuple[int, int]] = []
        for k in range(self.num_bases):
            if runs and (self.dilations[k], self.base_paddings[k]) == (
                    self.dilations[runs[-1][0]], self.base_paddings[runs[-1][0]]):
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((k, 1))
        return runs

    def forward(self, x: torch.Tensor, num_shared_bases: Optional[int] = None) -> torch.Tensor:
        if num_shared_bases is not None:
            return self.forward_shared(x, num_shared_bases)
        parts = self.fused_parts(x)
        if parts is not None:
            return self._fused(x, parts, self._run_segments(shared=False))
        return self._forward_runs(self.binarize_input(x), shared=False)

    def forward_shared(self, x: torch.Tensor, num_bases: int) -> torch.Tensor:
        """``forward(x.repeat(1, K, 1, 1))``: the input binarized once, and each run of bases
        with the same rate as one dense conv over it when a base has one group (with ``g > 1``
        groups per base, base by base: see :meth:`BinaryConv2d.forward_shared`)."""
        if num_bases != self.num_bases or x.shape[1] * num_bases != self.in_channels:
            raise ValueError(f'forward_shared: {x.shape[1]} input channels x K={num_bases} do '
                             f'not match in_channels={self.in_channels} with '
                             f'{self.num_bases} bases')
        if not self.shares_input():
            return self.forward(x.repeat(1, num_bases, *([1] * (x.dim() - 2))))
        parts = self.fused_parts(x)
        if parts is not None:
            return self._fused(x, parts, self._run_segments(shared=True))
        return self._forward_runs(self.binarize_input(x), shared=True)

    def _split_runs(self, shared: bool) -> List[Tuple[int, int]]:
        """The runs of one conv each: the equal runs, each split into single bases where the
        input is shared and a base has several groups."""
        if shared and self.groups // self.num_bases > 1:
            return [(k, 1) for k in range(self.num_bases)]
        return self._runs

    def _run_segments(self, shared: bool) -> List[Segment]:
        cin = self.in_channels // self.num_bases
        cout = self.out_channels // self.num_bases
        g = self.groups // self.num_bases
        return [Segment(None if shared else first * cin, None if shared else (first + n) * cin,
                        first * cout, (first + n) * cout, g if shared else g * n,
                        _pair(self.dilations[first]), self.base_paddings[first])
                for first, n in self._split_runs(shared)]

    def _forward_runs(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """Reference path: one ``F.conv2d`` per run (:meth:`_split_runs`)."""
        weight = self.binarized_weight()
        cin = self.in_channels // self.num_bases
        cout = self.out_channels // self.num_bases
        g = self.groups // self.num_bases
        outs = []
        for first, n in self._split_runs(shared):
            xs = x if shared else x[:, first * cin:(first + n) * cin]
            ws = weight[first * cout:(first + n) * cout]
            bs = None if self.bias is None else self.bias[first * cout:(first + n) * cout]
            d, (ph, pw) = self.dilations[first], self.base_paddings[first]
            groups = g if shared else g * n
            if self.padding_mode == 'zeros' and self.pad_value == 0:
                outs.append(F.conv2d(xs, ws, bs, self.stride, (ph, pw), d, groups))
                continue
            if ph or pw:
                if self.padding_mode == 'zeros':
                    xs = F.pad(xs, (pw, pw, ph, ph), value=self.pad_value)
                else:
                    xs = F.pad(xs, (pw, pw, ph, ph), mode=self.padding_mode)
            outs.append(F.conv2d(xs, ws, bs, self.stride, 0, d, groups))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + f', dilations={self.dilations}, base_paddings={self.base_paddings}'
