# Group-Net FCOS, ResNet-50 (bottleneck groups), K=5 bases: C3-C5 have 512/1024/2048 channels.
# Stage 2 of 2: binarizes and fine-tunes the last checkpoint of
# fcos_groupnet-r50-5b_stage1-tanh_fpn_1x_coco.py.
_base_ = './fcos_groupnet-r18-5b_fpn_1x_coco.py'

model = dict(backbone=dict(depth=50), neck=dict(in_channels=[512, 1024, 2048]))
load_from = 'work_dirs/fcos_groupnet-r50-5b_stage1-tanh_fpn_1x_coco/epoch_12.pth'
