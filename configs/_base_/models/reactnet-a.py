# ReActNet-A (Liu et al., ECCV 2020) as its official code builds it (mmbnn.ReActNetA): MobileNetV1's
# layout with full 3x3 and 1x1 binary convs, RSign (learned threshold per channel, ApproxSign
# gradient) before each, BN -> add a real shortcut -> RPReLU after each; weights as sign times a
# detached mean |w| per output channel with the clipped STE (BiRealWeight, the official code's;
# XNORWeight gives the scale its exact gradient); zero padding; full-precision stem (conv3x3/2 ->
# BN) and classifier (global pooling, FC 1024 -> 1000).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmbnn.ReActNetA',
        arch='A',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='RSign'),
                      weight_binarizer=dict(type='BiRealWeight'))),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
