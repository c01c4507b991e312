# BNN ResNet-18 (Courbariaux et al., 2016; Hubara et al.), ImageNet, as a GroupNetResNet with one
# base: sign activations with the clipped straight-through estimator (STESign), plain sign
# weights with no scale (SignWeight), XNOR-Net's block order (binary conv -> ReLU -> BN) with a
# real shortcut around every binary conv (mmbnn's binary blocks always have one), real 1x1
# downsample. Schedule: Group-Net's binary stage (groupnet-r18-5b_8xb32_in1k.py).
_base_ = ['../groupnet/groupnet-r18-1b_8xb32_in1k.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=1,
        downsample='real',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
                      weight_binarizer=dict(type='SignWeight')),
        act_cfg=dict(type='ReLU'),
        order=('act', 'norm', 'add'),
        stem='imagenet',
        out_indices=(3, )),
    head=dict(in_channels=512))
