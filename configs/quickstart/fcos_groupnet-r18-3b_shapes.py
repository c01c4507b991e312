# The quick start's binary FCOS with K=3 bases per binary conv (backbone, FPN, head) instead of
# 5, stage 2 of the two-stage recipe (tools/analysis/bench_fcos_shapes.py's `gn3` row):
#   python tools/train.py configs/quickstart/fcos_groupnet-r18-3b_stage1-tanh_shapes.py
#   python tools/train.py configs/quickstart/fcos_groupnet-r18-3b_shapes.py
_base_ = './fcos_groupnet-r18_shapes.py'

model = dict(backbone=dict(num_bases=3), neck=dict(num_bases=3), bbox_head=dict(num_bases=3))
load_from = 'work_dirs/fcos_groupnet-r18-3b_stage1-tanh_shapes/epoch_12.pth'  # stage1_epochs
