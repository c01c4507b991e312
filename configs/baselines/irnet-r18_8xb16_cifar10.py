# IR-Net ResNet-18 on CIFAR-10: as irnet-r18_8xb32_in1k, CIFAR stem; the CIFAR schedule of
# groupnet-r18-5b_8xb16_cifar10 (Adam lr 1e-3, cosine, 200 epochs).
_base_ = [
    '../_base_/models/irnet-r18.py',
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(backbone=dict(stem='cifar'), head=dict(num_classes=10, topk=(1, )))

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0))
param_scheduler = dict(type='CosineAnnealingLR', T_max=200, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
