# Group-Net FCOS, ResNet-50 (bottleneck groups), K=5 bases: C3-C5 have 512/1024/2048 channels.
_base_ = './fcos_groupnet-r18-5b_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=50, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(in_channels=[512, 1024, 2048]))
