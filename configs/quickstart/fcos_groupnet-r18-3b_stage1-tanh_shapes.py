# Stage 1 of fcos_groupnet-r18-3b_shapes.py: the quick start's stage 1 with K=3 bases per binary
# conv (backbone, FPN, head) instead of 5.
_base_ = './fcos_groupnet-r18_stage1-tanh_shapes.py'

model = dict(backbone=dict(num_bases=3), neck=dict(num_bases=3), bbox_head=dict(num_bases=3))
