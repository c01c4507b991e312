# Full-precision ResNet-18 reference: mmpretrain's own config, unchanged.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']
