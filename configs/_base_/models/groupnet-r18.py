# Group-Net ResNet-18 classifier (Zhuang et al., CVPR 2019), K=5 binary bases per group: the
# GroupNetResNet defaults are the paper's (group decomposition, learned lambda, Group-Net's conv
# mmbnn.layers.GROUPNET_CONV = ApproxSign activations, XNOR weights, +1 padding; binary conv ->
# ReLU -> BN -> add; binary 1x1 downsample; full-precision stem conv -> max-pool -> BN without
# ReLU, so the first binary conv sees signed inputs). Variants override num_bases, soft_gate,
# depth, stem or conv_cfg (mmbnn.layers.groupnet_conv_cfg lists the conv's options).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmbnn.GroupNetResNet', depth=18, num_bases=5, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
