# Group-Net FCOS, ResNet-18, K=3 bases (backbone, neck and head).
_base_ = './fcos_groupnet-r18-5b_fpn_1x_coco.py'

model = dict(
    backbone=dict(num_bases=3), neck=dict(num_bases=3), bbox_head=dict(num_bases=3))
