# Group-Net ResNet-18 with K=5 binary bases on CIFAR-10: CIFAR stem (3x3 conv -> BN, stride 1, no
# max-pool, no ReLU), otherwise the model of groupnet-r18-5b_8xb32_in1k.py. Trained binary from
# scratch: Adam lr 1e-3, no weight decay, cosine over 200 epochs, batch 8x16 = 128.
_base_ = [
    '../_base_/models/groupnet-r18.py',
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
