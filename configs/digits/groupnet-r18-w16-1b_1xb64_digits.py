# Group-Net ResNet-18 (width 16, CIFAR stem) with K=1 base: a single binary network with
# Group-Net's block (binary conv -> ReLU -> BN -> add), ApproxSign activations, XNOR weights and a
# binary 1x1 downsample. The other binary digits models inherit this file.
_base_ = ['./_base_digits.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=1,
        decomposition='group',
        downsample='binary',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=dict(type='ReLU'),
        order=('act', 'norm', 'add'),
        stem='cifar',
        stem_channels=16,
        base_channels=16),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))
