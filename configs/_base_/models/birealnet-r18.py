# Bi-Real Net-18 (Liu et al., ECCV 2018): ApproxSign activations, XNOR weights (sign * mean|w| per
# output channel), binary conv -> BN -> add a real shortcut (no activation), avgpool + real 1x1
# downsample, zero padding; full-precision stem (conv -> max-pool -> BN, no ReLU, as Bi-Real's
# code) and classifier.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=1,
        downsample='avgpool',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=None,
        order=('norm', 'add'),
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
