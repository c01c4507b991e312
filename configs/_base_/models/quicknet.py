# QuickNet (Bannink et al., MLSys 2021) as larq-zoo builds it (mmbnn.QuickNet, larq_zoo/sota/
# quicknet.py): a real stem (conv3x3/2 -> BN -> ReLU -> depthwise 3x3/2 -> BN -> conv1x1 -> BN),
# stages of x + BN(ReLU(binconv3x3(x))) with sign inputs and sign weights (STE clipped at 1.25, no
# scale, +1 padding), real transitions (ReLU -> max-pool 2x2/1 -> blur-pool 3x3/2 -> conv1x1 ->
# BN), a ReLU at the end, global pooling and a real FC. arch: 'small', 'base' or 'large'.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmbnn.QuickNet',
        arch='base',
        conv_cfg=dict(type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='STESign', clip_value=1.25),
                      weight_binarizer=dict(type='SignWeight', clip_value=1.25), pad_value=1.0)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
# larq's WeightClip(1.25): the latent weights clamped back to [-1.25, 1.25] after every update.
custom_hooks = [dict(type='mmbnn.LatentClampHook')]
