# ReActNet-style ResNet-18 (Liu et al., ECCV 2020), ImageNet: ../_base_/models/reactnet-r18.py
# (RSign, XNOR weights, binary conv -> BN -> add -> RPReLU, avgpool + real 1x1 downsample).
# Without ReActNet's distillation from a real teacher; Group-Net's binary schedule.
_base_ = [
    '../_base_/models/reactnet-r18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/adam-binary_40e.py',
    'mmpretrain::_base_/default_runtime.py',
]
