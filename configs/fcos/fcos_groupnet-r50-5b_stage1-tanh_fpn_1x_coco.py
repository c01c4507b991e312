# Group-Net FCOS, ResNet-50, K=5 bases, stage 1 of 2 (tanh, real weights, every base from
# torchvision's ResNet-50; see fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py). Stage 2:
# fcos_groupnet-r50-5b_fpn_1x_coco.py.
_base_ = './fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=50, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(in_channels=[512, 1024, 2048]))
