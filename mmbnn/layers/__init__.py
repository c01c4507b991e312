from .base_aggregation import BaseAggregator, split_bases
from .binary_conv import BinaryConv2d
from .binary_linear import BinaryLinear
from .multi_base_conv import MultiBaseBinaryConv2d
from .rprelu import LearnableBias, RPReLU

__all__ = ['BinaryConv2d', 'BinaryLinear', 'MultiBaseBinaryConv2d', 'BaseAggregator',
           'split_bases', 'LearnableBias', 'RPReLU']
