# Full-precision ResNet-34 reference: mmpretrain's own config, unchanged.
_base_ = ['mmpretrain::resnet/resnet34_8xb32_in1k.py']
