"""Layer-wise K-base decomposition: one conv approximated by K binary convs summed at once."""
import contextlib
from typing import Iterator, Optional

import torch

from mmbnn.registry import MODELS, ROOT_MODELS
from .base_aggregation import BaseAggregator
from .binary_conv import BinaryConv2d
from .binary_conv_function import Segment
from .groupnet_conv import GROUPNET_CONV, with_num_bases

__all__ = ['MultiBaseBinaryConv2d', 'explicit_bases']

_FUSE_SHARED_BASES = [True]


@contextlib.contextmanager
def explicit_bases() -> Iterator[None]:
    """Within this context, K-base convs whose bases share their input run the K binary convs
    explicitly (one grouped conv) instead of one conv with the lambda-combined weight: the same
    values, and the K binary convs' MACs, as the model summary must count them."""
    _FUSE_SHARED_BASES[0] = False
    try:
        yield
    finally:
        _FUSE_SHARED_BASES[0] = True


@MODELS.register_module()
@ROOT_MODELS.register_module()
class MultiBaseBinaryConv2d(BinaryConv2d):
    """``conv(x) ~ sum_k lambda_k BinConv_k(x)`` (Group-Net's layer-wise decomposition).

    A conv of ``in_channels -> out_channels`` (what ``in_channels``, ``out_channels`` and
    ``groups`` report) made of K binary bases. The weight holds the K bases base-major,
    ``(K * out_channels, in_channels / groups, kh, kw)``, as the grouped conv over the input
    repeated K times that computes them (``groups * K`` groups); then a lambda-weighted sum
    (:class:`~mmbnn.layers.BaseAggregator`, key ``aggregate.scales``). Takes every argument of
    :class:`BinaryConv2d`, so it drops into any ``conv_cfg``:
    ``dict(type='mmbnn.MultiBaseBinaryConv2d', num_bases=5)``.

    Execution: where the K bases binarize the input alike (an activation binarizer without
    per-channel thresholds), ``sum_k lambda_k conv(b(x), W_k) = conv(b(x), sum_k lambda_k W_k)``,
    so the layer runs as ONE conv with the lambda-combined binary weights: the same values and
    gradients as the K convs, at the cost of one. With per-base thresholds
    (:class:`~mmbnn.binarizers.BaseShiftSign`, which gives every base its own 1-bit view of the
    input) it runs the grouped conv over the repeated input, as it does within
    :func:`explicit_bases` (which the model summary uses to count the K convs' binary MACs),
    through :class:`BinaryConv2d`'s fused function where its binarizers allow (integer sums, the
    scales after the conv, bits kept for backward).

    Args:
        act_binarizer, weight_binarizer, pad_value: As for :class:`BinaryConv2d`, with Group-Net's
            defaults (:data:`~mmbnn.layers.GROUPNET_CONV`: ApproxSign, XNOR weights, +1
            padding). Binarizers that take ``num_bases`` get K.
        num_bases (int): K >= 1. Default: 5.
        learn_scales (bool): Learn lambda; else average. Default: True.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = 'zeros',
                 act_binarizer: Optional[dict] = GROUPNET_CONV['act_binarizer'],
                 weight_binarizer: Optional[dict] = GROUPNET_CONV['weight_binarizer'],
                 pad_value: float = GROUPNET_CONV['pad_value'], num_bases: int = 5,
                 learn_scales: bool = True, device=None, dtype=None):
        if not isinstance(num_bases, int) or isinstance(num_bases, bool) or num_bases < 1:
            raise ValueError(f'num_bases must be an int >= 1, got {num_bases!r}')
        binarizers = with_num_bases(dict(act_binarizer=act_binarizer,
                                         weight_binarizer=weight_binarizer), num_bases)
        super().__init__(in_channels * num_bases, out_channels * num_bases, kernel_size,
                         stride=stride, padding=padding, dilation=dilation,
                         groups=groups * num_bases, bias=bias, padding_mode=padding_mode,
                         pad_value=pad_value, device=device, dtype=dtype, **binarizers)
        # Report the layer's own channels and groups; K separately.
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.num_bases = num_bases
        self.aggregate = BaseAggregator(num_bases, learn_scales=learn_scales)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # holds its K bases itself: no sharing arg
        k = self.num_bases
        if self.shares_input() and _FUSE_SHARED_BASES[0]:
            lam = self.aggregate.scales.to(x.dtype)
            w = self.binarized_weight()
            w = (lam.view(k, 1, 1, 1, 1) * w.view(k, -1, *w.shape[1:])).sum(0)
            b = None if self.bias is None else (lam.view(k, 1) * self.bias.view(k, -1)).sum(0)
            return self._conv(self.binarize_input(x), w, b, self.groups)
        x = self.aggregate.expand(x)
        parts = self.fused_parts(x)
        if parts is not None:  # integer sums of the K binary convs, scaled after
            seg = Segment(None, None, 0, self.weight.shape[0], self.groups * k,
                          tuple(self.dilation), tuple(self.padding))
            return self.aggregate(self._fused(x, parts, [seg]))
        return self.aggregate(self._conv(self.binarize_input(x), self.binarized_weight(),
                                         self.bias, self.groups * k))

    def extra_repr(self) -> str:
        return super().extra_repr() + f', num_bases={self.num_bases}'
