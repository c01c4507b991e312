# Group-Net DeepLabV3 (Zhuang et al., CVPR 2019) on PASCAL VOC 2012 + SBD (aug), 20k iterations.
# Backbone: Group-Net ResNet-18 with K=5 binary bases per group (group decomposition, ApproxSign
# activations, XNOR weights, binary conv -> ReLU -> BN -> add, binary 1x1 downsample), the V1c
# (deep) stem in full precision, dilated to output stride 8 (strides 1,2,1,1, dilations 1,1,2,4;
# every base of a stage uses the stage's dilation: see the -bpac config for one rate per base).
# Head: binary ASPP (rates 1/12/24/36 and image pooling; each branch a K-base binary conv + BN),
# full-precision projection and classifier. Auxiliary head: mmseg's FCNHead on stage 3 (full
# precision, training only: it is dropped at inference; for a binary one set its
# conv_cfg=dict(type='mmbnn.MultiBaseBinaryConv2d', num_bases=5)).
# Initialisation: the full-precision ImageNet ResNetV1c-18 copied into every base (mmbnn's
# full-precision init, Group-Net's recipe); Adam (lr 5e-4, no weight decay), mmseg's poly decay.
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'

num_bases = 5
norm_cfg = dict(type='SyncBN', requires_grad=True)

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
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=dict(type='ReLU'),
        order=('act', 'norm', 'add'),
        stem='deep',
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        base_dilations=None,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet18_v1c')),
    decode_head=dict(
        type='mmbnn.BinaryASPPHead',
        in_channels=512,
        channels=128,
        dilations=(1, 12, 24, 36),
        num_bases=num_bases,
        branch_conv_cfg=dict(type='mmbnn.MultiBaseBinaryConv2d',
                             act_binarizer=dict(type='ApproxSign'),
                             weight_binarizer=dict(type='XNORWeight'))),
    auxiliary_head=dict(in_channels=256, channels=64))

optim_wrapper = dict(optimizer=dict(_delete_=True, type='Adam', lr=5e-4, weight_decay=0))
