# BinaryAlexNet (Hubara et al., 2016; larq-zoo literature/binary_alex_net.py) on ImageNet with
# larq-zoo's recipe (larq_zoo/training/basic_experiments.py, TrainBinaryAlexNet): batch 512, Adam
# lr 1e-2 halved every 10 epochs, 150 epochs; latent weights clipped to [-1, 1].
_base_ = [
    '../_base_/models/binary-alexnet.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=64)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-2, weight_decay=0))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.5)
train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)
