# MeliusNet22 (Bethge et al., 2020) as larq-zoo builds it: grouped real stem, stages of binary
# dense + improvement blocks (BN -> binary 3x3 conv, sign inputs and weights clipped at 1.3, no
# scale), real transitions BN -> max-pool -> ReLU -> 1x1 conv, final BN -> ReLU, real classifier.
# larq clips the latent weights to [-1.3, 1.3]: mmbnn.LatentClampHook reads the bound.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmbnn.MeliusNet', arch='22', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
custom_hooks = [dict(type='mmbnn.LatentClampHook')]
