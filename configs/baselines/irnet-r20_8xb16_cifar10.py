# IR-Net ResNet-20 on CIFAR-10 (the paper's 86.5% model): three stages of three basic blocks,
# 16-32-64 channels, CIFAR stem; feature dim 64. IR-Net's own shortcut pads channels (option A);
# here the downsample is avgpool + real 1x1 conv.
_base_ = ['./irnet-r18_8xb16_cifar10.py']

model = dict(
    backbone=dict(depth=20, stem_channels=16, base_channels=16, out_indices=(2, )),
    head=dict(in_channels=64))
