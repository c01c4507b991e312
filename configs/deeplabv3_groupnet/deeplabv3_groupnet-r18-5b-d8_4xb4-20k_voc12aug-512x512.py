# Group-Net DeepLabV3 (Zhuang et al., CVPR 2019) on PASCAL VOC 2012 + SBD (aug), 20k iterations;
# stage 2 of Group-Net's two-stage recipe.
# Backbone: Group-Net ResNet-18 with K=5 binary bases per group (group decomposition, Group-Net's
# conv: ApproxSign activations, XNOR weights, +1 padding; binary conv -> ReLU -> BN -> add, binary
# 1x1 downsample), the V1c (deep) stem in full precision, dilated to output stride 8 (strides
# 1,2,1,1, dilations 1,1,2,4; every base of a stage uses the stage's dilation: see the -bpac
# config for one rate per base).
# Head: binary ASPP (rates 1/12/24/36 and image pooling; each branch a K-base binary conv whose
# bases binarize the shared input at their own thresholds, mmbnn.BaseShiftSign, + BN),
# full-precision projection and classifier. Auxiliary head: mmseg's FCNHead on stage 3 (full
# precision, training only: it is dropped at inference; for a binary one set its
# conv_cfg=dict(type='mmbnn.MultiBaseBinaryConv2d', num_bases=5)).
# Two stages: deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb4-20k_voc12aug-512x512.py trains this
# K-base model with tanh in place of sign and real weights, every base from the ImageNet
# ResNetV1c-18; this config binarizes its last checkpoint (load_from) and fine-tunes it: Adam
# (lr 5e-4, no weight decay), mmseg's poly decay.
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'

num_bases = 5
norm_cfg = dict(type='SyncBN', requires_grad=True)
# Group-Net's binary conv (mmbnn.layers.GROUPNET_CONV) in the backbone; the ASPP branches' K-base
# conv with per-base thresholds. The stage-1 configs swap the binarizers for the tanh proxy and
# real weights.
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
load_from = ('work_dirs/deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb4-20k_voc12aug-512x512/'
             'iter_20000.pth')
