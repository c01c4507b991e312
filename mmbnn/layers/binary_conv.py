"""Binary 2-D convolution, usable through ``conv_cfg`` in any OpenMMLab model."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS, ROOT_MODELS
from .binary_conv_function import Segment, binary_conv2d_fused, fused_enabled
from .binary_layer import BinaryLayerMixin

__all__ = ['BinaryConv2d']


@MODELS.register_module()
@ROOT_MODELS.register_module()
class BinaryConv2d(BinaryLayerMixin, nn.Conv2d):
    """A ``nn.Conv2d`` whose input and weight pass through binarizers.

    ``y = conv(pad(b_a(x), pad_value), b_w(W)) + bias``. The input is binarized *before* padding,
    so with ``pad_value=1.0`` (Group-Net's choice) a padded binary input stays in {-1, +1};
    ``pad_value=0`` is the usual zero padding.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode: As for :class:`torch.nn.Conv2d`, all honoured.
        act_binarizer (dict | None): Config of the activation binarizer; None keeps real inputs.
            Default: ``dict(type='STESign')`` (sign, gradient clipped at |x| <= 1).
        weight_binarizer (dict | None): Config of the weight binarizer; None keeps real weights.
            Default: ``dict(type='XNORWeight')`` (sign times mean |w| per output channel).
        pad_value (float): Value of the padded border with ``padding_mode='zeros'``. Default: 0.

    Computation: with a sign activation binarizer and a weight binarizer of the form
    ``signs * scale`` (every mmbnn 1-bit weight binarizer but DoReFa's), the layer computes
    ``conv(pad(sign(x - b)), S) * alpha + bias`` in one fused autograd function
    (:mod:`mmbnn.layers.binary_conv_function`): integer sums, exact whatever the order of the
    sums (instruction set, threads), the scale applied after the convolution, and only bits kept
    for backward (the input's signs packed, what the activation binarizer's gradient needs, the
    weight's signs packed). Other binarizers, padding modes other than zeros, ``padding='same'``
    and :func:`~mmbnn.layers.reference_binary_layers` take the reference path: the binarizer
    modules, then ``F.conv2d`` with the scaled weight.

    Execution of K bases (the same values either way): a model whose conv holds K bases as its
    groups, base by base along the output channels (Group-Net's group decomposition), sets
    :attr:`execution_bases` to K. The fused function then runs either one grouped conv or K
    convs on contiguous per-base tensors, whichever :meth:`per_base` picks for the layer's
    shape (measured on this CPU: see its docstring).
    """
    #: K bases held as this conv's groups (set by the model; 1: no per-base execution).
    execution_bases: int = 1
    #: :meth:`per_base`: K convs where the weight has more than this times the output's elements.
    PER_BASE_WEIGHT_RATIO = 4

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = 'zeros',
                 act_binarizer: Optional[dict] = dict(type='STESign'),
                 weight_binarizer: Optional[dict] = dict(type='XNORWeight'),
                 pad_value: float = 0.0, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode,
                         device=device, dtype=dtype)
        if pad_value != 0 and padding_mode != 'zeros':
            raise ValueError(f'pad_value={pad_value} needs padding_mode="zeros", '
                             f'got padding_mode={padding_mode!r}')
        self.pad_value = float(pad_value)
        self._init_binarizers(act_binarizer, weight_binarizer, in_channels, out_channels)

    def forward(self, x: torch.Tensor, num_shared_bases: Optional[int] = None) -> torch.Tensor:
        """``conv(pad(b_a(x), pad_value), b_w(W)) + bias``. With ``num_shared_bases=K`` the layer
        holds K bases as groups and ``x`` is their shared input, given once (see
        :meth:`forward_shared`)."""
        if num_shared_bases is not None:
            return self.forward_shared(x, num_shared_bases)
        parts = self.fused_parts(x)
        if parts is not None:
            return self._fused(x, parts, self._segments(x, shared=False))
        if self._per_base(x):
            return self._forward_per_base(self.binarize_input(x), shared=False)
        return self._conv(self.binarize_input(x), self.binarized_weight(), self.bias, self.groups)

    def _segments(self, x: torch.Tensor, shared: bool, num_bases: Optional[int] = None
                  ) -> List[Segment]:
        """The convs of the fused function: one, or one per base (:meth:`per_base`). With
        ``shared`` the K = ``num_bases`` bases take ``x`` as their one input."""
        k = num_bases if shared else self.execution_bases
        rows = self.weight.shape[0]
        geometry = dict(dilation=tuple(self.dilation), padding=tuple(self.padding))
        if shared:  # one dense conv over x only with one group per base (see forward_shared)
            g = self.groups // k
            if g == 1 and not self.per_base(x, k, shared=True):
                return [Segment(None, None, 0, rows, 1, **geometry)]
            return [Segment(None, None, i * rows // k, (i + 1) * rows // k, g, **geometry)
                    for i in range(k)]
        if k > 1 and self.groups % k == 0 and self.per_base(x, k, shared=False):
            cin = x.shape[1] // k
            return [Segment(i * cin, (i + 1) * cin, i * rows // k, (i + 1) * rows // k,
                            self.groups // k, **geometry) for i in range(k)]
        return [Segment(None, None, 0, rows, self.groups, **geometry)]

    def per_base(self, x: torch.Tensor, num_bases: int, shared: bool) -> bool:
        """Whether the fused function runs the K = ``num_bases`` bases as K convs on contiguous
        per-base tensors rather than one (grouped or, ``shared``, dense) conv. Measured on this
        CPU (oneDNN, AMD EPYC Zen 3, one thread, Group-Net ResNet-18's layer shapes at batch 8
        and 16, ``tools/analysis/bench_groupnet.py --layers``): one conv wins or ties while the
        weight has at most a few times the output's elements; beyond, K convs win by up to
        1.3x (each pass over the weight and every weight-sized temporary is a base's: they stay
        in cache and in the allocator's pool instead of being mapped afresh). K convs when the
        weight has more than :attr:`PER_BASE_WEIGHT_RATIO` times the output's elements."""
        if num_bases <= 1:
            return False
        outputs = x.shape[0] * self.weight.shape[0] * x.shape[-2] * x.shape[-1] // (
            self.stride[0] * self.stride[1])
        return self.weight.numel() > self.PER_BASE_WEIGHT_RATIO * outputs

    def fused_parts(self, x: torch.Tensor):
        """``(rule, threshold, mean-|w| groups, split)`` for the fused function (the weight
        binarizer's :meth:`~mmbnn.binarizers.WeightBinarizer.mean_abs_groups`, else its
        ``split``), or None where the layer takes the reference path (class docstring)."""
        if not fused_enabled() or self.padding_mode != 'zeros' or isinstance(self.padding, str) \
                or self.act_binarizer is None or self.weight_binarizer is None:
            return None
        rule = self.act_binarizer.fused_sign_grad()
        if rule is None:
            return None
        threshold = self.act_binarizer.threshold()
        if threshold is not None and (x.dim() != 4 or threshold.shape[1] != x.shape[1]):
            return None  # the reference path raises the binarizer's error
        groups = self.weight_binarizer.fused_mean_abs_groups(self.weight)
        split = None
        if groups is None:
            split = self.weight_binarizer.fused_split(self.weight)
            if split is None:
                return None
        return rule, threshold, groups, split

    def _fused(self, x: torch.Tensor, parts, segments: List[Segment]) -> torch.Tensor:
        """The fused function over ``segments``: a mean-|w| weight binarizer's signs and scales
        made inside it, base by base (where its groups of rows fit the segments), else the
        weight binarizer's ``split``."""
        rule, threshold, groups, split = parts
        if groups is not None:
            per = self.weight.shape[0] // groups
            if all(s.out_start % per == 0 and s.out_stop % per == 0 for s in segments):
                return binary_conv2d_fused(x, threshold, self.weight, None, self.bias, rule,
                                           segments, tuple(self.stride), self.pad_value,
                                           mean_abs_groups=groups)
            split = self.weight_binarizer.split(self.weight)
        signs, scale = split
        return binary_conv2d_fused(x, threshold, signs, scale, self.bias, rule, segments,
                                   tuple(self.stride), self.pad_value)

    def _per_base(self, x: torch.Tensor) -> bool:
        """Reference path: whether to run base by base (K > 1 bases and more weights than
        outputs)."""
        k = self.execution_bases
        if k <= 1 or self.groups % k or self.weight_binarizer is None:
            return False
        outputs = x.shape[0] * self.out_channels * x.shape[-2] * x.shape[-1] // (
            self.stride[0] * self.stride[1])
        return self.weight.numel() > outputs

    def _forward_per_base(self, x: torch.Tensor, shared: bool,
                          num_bases: Optional[int] = None) -> torch.Tensor:
        """Reference path: the K bases one at a time (``x`` binarized; ``shared``: one input for
        all; K: ``num_bases``, default :attr:`execution_bases`)."""
        k = num_bases or self.execution_bases
        weights = self.weight_binarizer.chunks(self.weight, k)
        biases = [None] * k if self.bias is None else self.bias.chunk(k)
        cin = x.shape[1] if shared else x.shape[1] // k
        outs = [self._conv(x if shared else x[:, i * cin:(i + 1) * cin], weights[i], biases[i],
                           self.groups // k) for i in range(k)]
        return torch.cat(outs, dim=1)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
              groups: int) -> torch.Tensor:
        """``conv(pad(x, pad_value), weight) + bias`` with this layer's geometry."""
        if self.padding_mode == 'zeros' and self.pad_value == 0:
            return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)
        if any(self._reversed_padding_repeated_twice):
            if self.padding_mode == 'zeros':
                x = F.pad(x, self._reversed_padding_repeated_twice, value=self.pad_value)
            else:
                x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
        return F.conv2d(x, weight, bias, self.stride, 0, self.dilation, groups)

    def shares_input(self) -> bool:
        """Whether K bases stacked along the input channels binarize a shared input alike: the
        activation binarizer has no per-channel state (no threshold per base or channel)."""
        return getattr(self.act_binarizer, 'channels', None) is None

    def forward_shared(self, x: torch.Tensor, num_bases: int) -> torch.Tensor:
        """``forward(x.repeat(1, K, 1, 1))`` for a layer holding K bases as groups, with the
        input binarized once. With ``groups = K g`` base k's weight rows
        ``[k C_out / K, (k+1) C_out / K)`` form a conv with ``g`` groups over the un-repeated
        input; for ``g = 1`` the whole weight ``(C_out, C_in / K, kh, kw)`` is ONE dense conv
        whose output is base-major, as the grouped conv's. (For ``g > 1`` one dense conv with
        ``g`` groups would give its group i the rows of base i instead of group i of every
        base: the bases then run one by one.)"""
        if self.groups % num_bases or x.shape[1] * num_bases != self.in_channels:
            raise ValueError(f'forward_shared: {x.shape[1]} input channels x K={num_bases} '
                             f'bases do not match in_channels={self.in_channels}, '
                             f'groups={self.groups}')
        if not self.shares_input():
            return self.forward(x.repeat(1, num_bases, *([1] * (x.dim() - 2))))
        parts = self.fused_parts(x)
        if parts is not None:
            return self._fused(x, parts, self._segments(x, shared=True, num_bases=num_bases))
        g = self.groups // num_bases
        if g > 1 or (num_bases == self.execution_bases and self._per_base(x)):
            return self._forward_per_base(self.binarize_input(x), shared=True,
                                          num_bases=num_bases)
        return self._conv(self.binarize_input(x), self.binarized_weight(), self.bias, g)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f', pad_value={self.pad_value}' if self.pad_value else '')
