# Full-precision reference: DeepLabV3 with a ResNetV1c-18 (output stride 8) on PASCAL VOC 2012 +
# SBD (aug), mmseg's 20k schedule; the ResNet-50 config at depth 18 with mmseg's ResNet-18
# widths (as mmseg's deeplabv3_r18-d8 Cityscapes config). ImageNet-pretrained ResNetV1c-18.
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(
    pretrained='open-mmlab://resnet18_v1c',
    backbone=dict(depth=18),
    decode_head=dict(in_channels=512, channels=128),
    auxiliary_head=dict(in_channels=256, channels=64))
