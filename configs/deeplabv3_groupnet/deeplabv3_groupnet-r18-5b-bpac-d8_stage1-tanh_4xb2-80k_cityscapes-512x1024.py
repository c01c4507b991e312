# Group-Net + BPAC on Cityscapes, stage 1 of 2: the model of
# deeplabv3_groupnet-r18-5b-bpac-d8_4xb2-80k_cityscapes-512x1024.py with tanh and real weights (see
# deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb2-80k_cityscapes-512x1024.py).
_base_ = './deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb2-80k_cityscapes-512x1024.py'

model = dict(backbone=dict(base_dilations=(None, None, (2, 3, 4, 5, 6), (6, 7, 8, 9, 10))))
