# Sparse IR-Net ResNet-18 on CIFAR-10 (SBNN: Schiavone et al., "Binary domain generalization for
# sparsifying binary neural networks", ECML-PKDD 2023), a budget of 10 % active binary weights,
# as the official code trains it (github.com/robustml-eurecom/SBNN, CIFAR-10/main_learn.py and
# ir_1w1a_learn.py): EDE sign activations; weights w_b = tau sign(w) + phi
# (mmbnn.SparseBinaryWeight: threshold='sign', (tau, phi) from (1, 0), latent weights clamped to
# +-1.5 after each step by mmbnn.LatentClampHook, EDE gradient, t annealed per epoch); one budget
# for the whole network, lambda * relu(active/total - EC) with gamma 0.04 (the official value at
# EC 0.1), added to the loss by mmbnn.SparsityHook. Network: IR-Net's binary conv -> BN -> add
# with a real-valued shortcut per conv, real 1x1 conv + BN downsample (the official code),
# full-precision 3x3 stem and classifier, width 64. Recipe of the official code: Adam lr 1e-3, no
# weight decay, batch 512 (one GPU), cosine to 0, mixup (alpha 1), 500 epochs (its READme
# command), random crop with padding 4 and flip. Not trained in this repository (see README.md
# here); EC variants: *-ec25, *-ec05.
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]

max_epochs = 500

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=1,
        downsample='real',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='EDESign'),
                      weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1,
                                            threshold='sign', init='unit', clamp=1.5,
                                            gradient='ede')),
        act_cfg=None,
        order=('norm', 'add'),
        stem='cifar',
        stem_channels=64,
        base_channels=64),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True)),
    train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)))

train_dataloader = dict(batch_size=512, num_workers=4)
val_dataloader = dict(batch_size=512, num_workers=4)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True,
         convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)

custom_hooks = [
    dict(type='mmbnn.EDEHook', by_epoch=True),
    dict(type='mmbnn.LatentClampHook'),  # the binarizer's clamp (1.5) after every step
    dict(type='mmbnn.SparsityHook', budget_loss=dict(type='mmbnn.SparseBudgetLoss', gamma=None)),
]
