# ReActNet-style ResNet-18 (width 16, CIFAR stem): ../_base_/models/reactnet-r18.py on the digits
# (RSign, XNOR weights, binary conv -> BN -> add -> RPReLU, avgpool + real 1x1 downsample). No
# distillation.
_base_ = ['../_base_/models/reactnet-r18.py', './_base_digits.py']

model = dict(
    backbone=dict(stem='cifar', stem_channels=16, base_channels=16),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
