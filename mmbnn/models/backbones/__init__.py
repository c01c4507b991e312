from .binary_resnet_blocks import BinaryBasicBlock, BinaryBottleneck
from .groupnet_resnet import GroupedConv2d, GroupNetResNet, PooledConv2d
from .groupnet_stage import GroupNetStage

__all__ = ['GroupNetResNet', 'GroupNetStage', 'BinaryBasicBlock', 'BinaryBottleneck',
           'PooledConv2d', 'GroupedConv2d']
