# Group-Net FCOS, ResNet-18, K=3 bases, stage 1 of 2 (tanh, real weights; see
# fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py). Stage 2: fcos_groupnet-r18-3b_fpn_1x_coco.py.
_base_ = './fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py'

model = dict(
    backbone=dict(num_bases=3), neck=dict(num_bases=3), bbox_head=dict(num_bases=3))
