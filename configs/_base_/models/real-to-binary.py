# Real-to-Binary Net (Martinez et al., ICLR 2020) as larq-zoo builds it: ResNet-18 layout of
# binary blocks, each binary conv BN -> conv (sign inputs, sign weights, no scale) -> data-dependent
# scale -> PReLU -> + real shortcut (avg-pool + real 1x1 conv + BN where the shape changes);
# stem conv7x7/2 -> BN -> PReLU -> max-pool; global pooling and a real classifier.
# larq clips the latent weights to [-1, 1] (weight_clip): mmbnn.LatentClampHook.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmbnn.RealToBinaryNet', depth=18, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
custom_hooks = [dict(type='mmbnn.LatentClampHook')]
