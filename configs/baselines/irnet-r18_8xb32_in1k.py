# IR-Net ResNet-18 (Qin et al., CVPR 2020), ImageNet: ../_base_/models/irnet-r18.py (EDE sign
# activations, Libra-PB weights with the EDE gradient, annealed per epoch by mmbnn.EDEHook; Bi-Real's
# block and avgpool downsample). Schedule: Group-Net's binary stage.
_base_ = [
    '../_base_/models/irnet-r18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/adam-binary_40e.py',
    'mmpretrain::_base_/default_runtime.py',
]
