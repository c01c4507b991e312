# BinaryResNetE18 (Bethge et al., 2019) as larq-zoo builds it (mmbnn.BinaryResNetE,
# larq_zoo/literature/resnet_e.py): every ResNet-18 basic block split into two single-conv blocks
# BN(binconv3x3(x)) + shortcut, sign inputs and sign weights (STE clipped at 1.25, no scale, zero
# padding), avg-pool + real 1x1 conv + BN where the channels change; real stem (conv7x7/2 -> BN
# -> ReLU -> max-pool -> BN), a ReLU at the end, global pooling and a real FC.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmbnn.BinaryResNetE',
        depth=18,
        conv_cfg=dict(type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='STESign', clip_value=1.25),
                      weight_binarizer=dict(type='SignWeight', clip_value=1.25))),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
# larq's WeightClip(1.25).
custom_hooks = [dict(type='mmbnn.LatentClampHook')]
