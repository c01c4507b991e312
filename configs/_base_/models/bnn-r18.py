# BNN ResNet-18 (Courbariaux et al., 2016; Hubara et al.) as a GroupNetResNet with one base: sign
# activations with the clipped straight-through estimator (STESign), plain sign weights with no
# scale (SignWeight), XNOR-Net's block order (binary conv -> ReLU -> BN) with a real shortcut
# around every binary conv (mmbnn's binary blocks always have one), real 1x1 downsample, zero
# padding; full-precision stem (conv -> max-pool -> BN, signed output) and classifier.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=1,
        downsample='real',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
                      weight_binarizer=dict(type='SignWeight')),
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
# BNN clips the latent weights back to [-1, 1] after every update (SignWeight's gradient is 0
# beyond 1, so a weight pushed past it would freeze): mmbnn.LatentClampHook.
custom_hooks = [dict(type='mmbnn.LatentClampHook')]
