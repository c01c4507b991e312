# Full-precision ResNet-18 reference on CIFAR-10: mmpretrain's own config, unchanged.
_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']
