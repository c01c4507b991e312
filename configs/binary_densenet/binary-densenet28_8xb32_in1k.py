# BinaryDenseNet28 on ImageNet with larq-zoo's recipe (TrainBinaryDenseNet28 in
# larq_zoo/training/basic_experiments.py): Adam lr 4e-3 (eps 1e-8), x0.1 at epochs 100 and 110,
# 120 epochs, batch 256 (8 GPUs x 32), no weight decay, latent weights clipped to [-1.3, 1.3].
_base_ = [
    '../_base_/models/binary-densenet.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
optim_wrapper = dict(optimizer=dict(type='Adam', lr=4e-3, eps=1e-8, weight_decay=0))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[100, 110], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
