# QuickNet (larq-zoo, sota/quicknet.py) on ImageNet with larq-zoo's recipe
# (larq_zoo/training/sota_experiments.py, TrainQuickNet): 600 epochs at batch 2048, Adam (max lr
# 1e-2) for the latent binary weights and SGD (max lr 0.1, momentum 0.9) for the real parameters,
# both with 5 epochs of linear warm-up then cosine decay to 0 (larq's CaseOptimizer:
# mmbnn.BinaryOptimWrapperConstructor); latent weights clipped to [-1.25, 1.25].
_base_ = [
    '../_base_/models/quicknet.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(backbone=dict(arch='base'))  # 'small' and 'large': the other two configs
train_dataloader = dict(batch_size=256)
optim_wrapper = dict(
    constructor='mmbnn.BinaryOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0),
    binary_optimizer=dict(type='Adam', lr=1e-2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=595, eta_min=0, by_epoch=True, begin=5, end=600,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=600, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=2048)
