# Group-Net + BPAC on PASCAL VOC 2012 aug, stage 1 of 2: the model of
# deeplabv3_groupnet-r18-5b-bpac-d8_4xb4-20k_voc12aug-512x512.py with tanh and real weights (see
# deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb4-20k_voc12aug-512x512.py).
_base_ = './deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb4-20k_voc12aug-512x512.py'

model = dict(backbone=dict(base_dilations=(None, None, (2, 3, 4, 5, 6), (6, 7, 8, 9, 10))))
