# Group-Net FCOS, ResNet-18, K=3 bases (backbone, neck and head), stage 2 of 2: binarizes and
# fine-tunes the last checkpoint of fcos_groupnet-r18-3b_stage1-tanh_fpn_1x_coco.py.
_base_ = './fcos_groupnet-r18-5b_fpn_1x_coco.py'

model = dict(
    backbone=dict(num_bases=3), neck=dict(num_bases=3), bbox_head=dict(num_bases=3))
load_from = 'work_dirs/fcos_groupnet-r18-3b_stage1-tanh_fpn_1x_coco/epoch_12.pth'
