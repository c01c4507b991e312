# The quick start's binary DeepLabV3 without BPAC: every base of stages 3 and 4 uses the stage's
# dilation (2 / 4) instead of one dilation per base. Stage 2 of the two-stage recipe
# (tools/analysis/bench_bpac_shapes.py's `groupnet` row):
#   python tools/train.py configs/quickstart/deeplabv3_groupnet-r18-nobpac_stage1-tanh_shapes.py
#   python tools/train.py configs/quickstart/deeplabv3_groupnet-r18-nobpac_shapes.py
_base_ = './deeplabv3_groupnet-r18_shapes.py'

model = dict(backbone=dict(base_dilations=None))
load_from = 'work_dirs/deeplabv3_groupnet-r18-nobpac_stage1-tanh_shapes/iter_1600.pth'  # stage1_iters
