# BinaryResNetE18 (Bethge et al., 2019; larq-zoo literature/resnet_e.py) on ImageNet with
# larq-zoo's recipe (larq_zoo/training/basic_experiments.py, TrainBinaryResNetE18): batch 1024,
# Adam lr 4e-3 (eps 1e-8), x0.3 at epochs 70, 90 and 110, 120 epochs; latent weights clipped to
# [-1.25, 1.25].
_base_ = [
    '../_base_/models/binary-resnet-e18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=4e-3, eps=1e-8, weight_decay=0))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[70, 90, 110], gamma=0.3)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
