"""Layer-wise K-base decomposition: one conv approximated by K binary convs summed at once."""
from typing import Optional

import torch

from mmbnn.registry import MODELS, ROOT_MODELS
from .base_aggregation import BaseAggregator
from .binary_conv import BinaryConv2d

__all__ = ['MultiBaseBinaryConv2d']


@MODELS.register_module()
@ROOT_MODELS.register_module()
class MultiBaseBinaryConv2d(BinaryConv2d):
    """``conv(x) ~ sum_k lambda_k BinConv_k(x)`` (Group-Net's layer-wise decomposition).

    The K binary convs run as ONE grouped convolution over the input repeated K times
    (weight shape (K*C_out, C_in/groups, kh, kw), groups K*groups), then a reshape and a
    lambda-weighted sum. Takes every argument of :class:`BinaryConv2d`, so it drops into any
    ``conv_cfg``: ``dict(type='mmbnn.MultiBaseBinaryConv2d', num_bases=5)``.

    Args:
        num_bases (int): K >= 1. Default: 5.
        learn_scales (bool): Learn lambda; else average. Default: True.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = 'zeros',
                 act_binarizer: Optional[dict] = dict(type='STESign'),
                 weight_binarizer: Optional[dict] = dict(type='XNORWeight'),
                 pad_value: float = 0.0, num_bases: int = 5, learn_scales: bool = True,
                 device=None, dtype=None):
        if not isinstance(num_bases, int) or num_bases < 1:
            raise ValueError(f'num_bases must be an int >= 1, got {num_bases!r}')
        self.num_bases = num_bases
        super().__init__(in_channels * num_bases, out_channels * num_bases, kernel_size,
                         stride=stride, padding=padding, dilation=dilation,
                         groups=groups * num_bases, bias=bias, padding_mode=padding_mode,
                         act_binarizer=act_binarizer, weight_binarizer=weight_binarizer,
                         pad_value=pad_value, device=device, dtype=dtype)
        self.aggregate = BaseAggregator(num_bases, learn_scales=learn_scales)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aggregate(super().forward(self.aggregate.expand(x)))
