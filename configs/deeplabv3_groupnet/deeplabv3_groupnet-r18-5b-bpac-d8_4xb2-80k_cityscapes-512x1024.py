# Group-Net + BPAC on Cityscapes: as deeplabv3_groupnet-r18-5b-d8_4xb2-80k_cityscapes-512x1024,
# with the paper's per-base rates, 2..6 in stage 3 and 6..10 in stage 4. Stage 2 of 2: binarizes
# and fine-tunes the last checkpoint of
# deeplabv3_groupnet-r18-5b-bpac-d8_stage1-tanh_4xb2-80k_cityscapes-512x1024.py.
_base_ = './deeplabv3_groupnet-r18-5b-d8_4xb2-80k_cityscapes-512x1024.py'

model = dict(backbone=dict(base_dilations=(None, None, (2, 3, 4, 5, 6), (6, 7, 8, 9, 10))))
load_from = ('work_dirs/deeplabv3_groupnet-r18-5b-bpac-d8_stage1-tanh_4xb2-80k_cityscapes-'
             '512x1024/iter_80000.pth')
