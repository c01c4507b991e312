# Stage 1 of deeplabv3_groupnet-r18-nobpac_shapes.py: the quick start's stage 1 without BPAC
# (every base of stages 3 and 4 at the stage's dilation).
_base_ = './deeplabv3_groupnet-r18_stage1-tanh_shapes.py'

model = dict(backbone=dict(base_dilations=None))
