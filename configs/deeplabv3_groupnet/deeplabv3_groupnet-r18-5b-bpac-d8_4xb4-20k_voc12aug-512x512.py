# Group-Net + Binary Parallel Atrous Convolution (BPAC, Zhuang et al., CVPR 2019) on PASCAL VOC
# 2012 aug: as deeplabv3_groupnet-r18-5b-d8, with each of the K=5 bases of every block of stage 3
# using its own dilation rate, 2, 3, 4, 5, 6, and of stage 4, 6, 7, 8, 9, 10 (the paper's rates;
# mmbnn.models.backbones.groupnet_resnet.BPAC_DILATIONS). Stage 2 of 2: binarizes and fine-tunes
# the last checkpoint of deeplabv3_groupnet-r18-5b-bpac-d8_stage1-tanh_4xb4-20k_voc12aug-512x512.py.
_base_ = './deeplabv3_groupnet-r18-5b-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(backbone=dict(base_dilations=(None, None, (2, 3, 4, 5, 6), (6, 7, 8, 9, 10))))
load_from = ('work_dirs/deeplabv3_groupnet-r18-5b-bpac-d8_stage1-tanh_4xb4-20k_voc12aug-512x512/'
             'iter_20000.pth')
