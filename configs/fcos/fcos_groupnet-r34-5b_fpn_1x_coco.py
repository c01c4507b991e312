# Group-Net FCOS, ResNet-34, K=5 bases, stage 2 of 2: binarizes and fine-tunes the last
# checkpoint of fcos_groupnet-r34-5b_stage1-tanh_fpn_1x_coco.py.
_base_ = './fcos_groupnet-r18-5b_fpn_1x_coco.py'

model = dict(backbone=dict(depth=34))
load_from = 'work_dirs/fcos_groupnet-r34-5b_stage1-tanh_fpn_1x_coco/epoch_12.pth'
