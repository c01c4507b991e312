# BinaryDenseNet (Bethge et al., 2019) as larq-zoo builds it: dense stages of BN -> binary 3x3
# conv (sign inputs and weights, gradient clipped at 1.3, no scale) -> concat, real transitions
# BN -> max-pool -> ReLU -> 1x1 conv, final BN -> ReLU, global pooling, real classifier.
# larq clips the latent weights to [-1.3, 1.3]: mmbnn.LatentClampHook reads the bound.
# BinaryDenseNet28 here; the files override `arch` and the head's `in_channels`.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmbnn.BinaryDenseNet', arch='28', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=576,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
custom_hooks = [dict(type='mmbnn.LatentClampHook')]
