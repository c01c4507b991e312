from .binary_resnet_blocks import BinaryBasicBlock, BinaryBottleneck
from .groupnet_resnet import GroupNetResNet, PooledConv2d

__all__ = ['GroupNetResNet', 'BinaryBasicBlock', 'BinaryBottleneck', 'PooledConv2d']
