# Stage 0 of Real-to-Binary's recipe (larq-zoo's TrainFPResnet18): the full-precision ResNet-18
# teacher. SGD lr 0.1 (momentum 0.9), 5 linear warm-up epochs from 0, cosine to 0 at epoch 100,
# batch 512 (8 GPUs x 64), L2 1e-5 on the kernels (weight decay 2e-5). mmpretrain's ResNet-18
# (strided 1x1 downsample; larq's has avg-pool + 1x1 conv); its eight basic blocks are the
# attention-transfer points of stage 1.
_base_ = [
    'mmpretrain::_base_/models/resnet18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=64)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=95, eta_min=0, by_epoch=True, begin=5, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)
