# Full-precision reference: mmdet's FCOS (GN head) on torchvision's ResNet-18, 1x on COCO, the
# same data and epochs as the Group-Net configs of this folder. The FCOS paper's authors report
# 32.2 AP for FCOS ResNet-18 (REFERENCE.md, unverified).
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        depth=18,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(in_channels=[128, 256, 512], start_level=0))
