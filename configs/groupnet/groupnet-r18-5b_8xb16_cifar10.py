# Group-Net ResNet-18 with K=5 binary bases on CIFAR-10: CIFAR stem (3x3 conv, stride 1, no
# max-pool), otherwise the block of groupnet-r18-5b_8xb32_in1k.py. Trained binary from scratch:
# Adam lr 1e-3, no weight decay, cosine over 200 epochs, batch 8x16 = 128.
_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=5,
        decomposition='group',
        learn_scales=True,
        soft_gate=False,
        downsample='binary',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=dict(type='ReLU'),
        order=('act', 'norm', 'add'),
        stem='cifar',
        out_indices=(3, )),
    head=dict(in_channels=512))

optim_wrapper = dict(optimizer=dict(_delete_=True, type='Adam', lr=1e-3, weight_decay=0))
param_scheduler = dict(_delete_=True, type='CosineAnnealingLR', T_max=200, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
