# Group-Net DeepLabV3 on Cityscapes (512x1024 crops, 80k iterations, as the full-precision
# deeplabv3_r18-d8 reference): the model of deeplabv3_groupnet-r18-5b-d8_4xb4-20k_voc12aug-512x512
# (K=5 binary bases per group, V1c stem, output stride 8, binary ASPP head with real projection
# and classifier, full-precision FCN auxiliary head) with 19 classes. Stage 2 of 2: binarizes and
# fine-tunes the last checkpoint of
# deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb2-80k_cityscapes-512x1024.py.
_base_ = 'mmseg::deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py'

num_bases = 5
norm_cfg = dict(type='SyncBN', requires_grad=True)
# The convs of deeplabv3_groupnet-r18-5b-d8_4xb4-20k_voc12aug-512x512.py.
from mmbnn.layers import groupnet_conv_cfg  # noqa: E402 (after _base_: an inherited config)

backbone_conv = groupnet_conv_cfg()
branch_conv = groupnet_conv_cfg(multi_base=True, base_shifts=True)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=num_bases,
        decomposition='group',
        learn_scales=True,
        soft_gate=False,
        downsample='binary',
        shared_downsample=True,  # one per block for the K bases, as the official code
        conv_cfg=backbone_conv,
        act_cfg=dict(type='ReLU'),
        order=('act', 'norm', 'add'),
        stem='deep',
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        base_dilations=None,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=None),  # every weight comes from stage 1 (load_from)
    decode_head=dict(
        type='mmbnn.BinaryASPPHead',
        in_channels=512,
        channels=128,
        dilations=(1, 12, 24, 36),
        num_bases=num_bases,
        branch_conv_cfg=branch_conv),
    auxiliary_head=dict(in_channels=256, channels=64))

optim_wrapper = dict(optimizer=dict(_delete_=True, type='Adam', lr=5e-4, weight_decay=0))
load_from = ('work_dirs/deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb2-80k_cityscapes-512x1024/'
             'iter_80000.pth')
