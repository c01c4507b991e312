# Bi-Real Net-18 (Liu et al., ECCV 2018), ImageNet: ../_base_/models/birealnet-r18.py (ApproxSign
# activations, XNOR weights, binary conv -> BN -> add a real shortcut, avgpool + real 1x1
# downsample). Schedule: Group-Net's binary stage, not Bi-Real's own (which starts from a real
# tanh model).
_base_ = [
    '../_base_/models/birealnet-r18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/adam-binary_40e.py',
    'mmpretrain::_base_/default_runtime.py',
]
