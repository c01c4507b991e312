from .binary_conv import BinaryConv2d
from .binary_linear import BinaryLinear

__all__ = ['BinaryConv2d', 'BinaryLinear']
