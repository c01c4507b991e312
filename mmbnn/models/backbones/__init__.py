from .binary_alexnet import BinaryAlexNet
from .binary_densenet import BinaryDenseNet
from .binary_resnet_blocks import BinaryBasicBlock, BinaryBottleneck
from .binary_resnet_e import BinaryResNetE
from .groupnet_resnet import GroupNetResNet, PooledConv2d, RealDownsampleConv2d
from .groupnet_stage import GroupNetStage
from .meliusnet import MeliusNet
from .quicknet import QuickNet
from .reactnet_a import ReActNetA
from .real_to_binary import RealToBinaryNet

__all__ = ['GroupNetResNet', 'GroupNetStage', 'BinaryBasicBlock', 'BinaryBottleneck',
           'PooledConv2d', 'RealDownsampleConv2d',
           'RealToBinaryNet', 'BinaryDenseNet', 'MeliusNet',
           'ReActNetA', 'QuickNet', 'BinaryResNetE', 'BinaryAlexNet']
