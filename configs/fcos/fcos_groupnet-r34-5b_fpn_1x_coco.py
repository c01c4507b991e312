# Group-Net FCOS, ResNet-34, K=5 bases.
_base_ = './fcos_groupnet-r18-5b_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=34, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet34')))
