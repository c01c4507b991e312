from .base_aggregation import BaseAggregator, split_bases
from .binary_conv import BinaryConv2d
from .binary_conv_function import reference_binary_layers
from .binary_linear import BinaryLinear
from .groupnet_conv import GROUPNET_CONV, groupnet_conv_cfg, with_num_bases
from .multi_base_conv import MultiBaseBinaryConv2d, explicit_bases
from .multi_dilation_conv import MultiDilationBinaryConv2d
from .rprelu import LearnableBias, RPReLU
from .xnorpp import FactorisedScale, XNORPlusPlusConv2d

__all__ = ['BinaryConv2d', 'BinaryLinear', 'MultiBaseBinaryConv2d', 'MultiDilationBinaryConv2d',
           'BaseAggregator', 'split_bases', 'LearnableBias', 'RPReLU', 'GROUPNET_CONV',
           'groupnet_conv_cfg', 'with_num_bases', 'explicit_bases', 'reference_binary_layers',
           'FactorisedScale', 'XNORPlusPlusConv2d']
