# BNN ResNet-18 (Courbariaux et al., 2016; Hubara et al.), ImageNet: ../_base_/models/bnn-r18.py
# (sign activations with the clipped STE, sign weights without scale, binary conv -> ReLU -> BN
# -> add, real 1x1 downsample). Schedule: Group-Net's binary stage.
_base_ = [
    '../_base_/models/bnn-r18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/adam-binary_40e.py',
    'mmpretrain::_base_/default_runtime.py',
]
