# The network of stage 1 of Real-to-Binary's recipe (larq-zoo's r2b_fp): Real-to-Binary Net with
# tanh in place of sign and real weights, and its schedule (TrainR2BBFP): Adam lr 1e-3, 5 linear
# warm-up epochs from 0, x0.3 at epochs 40, 60 and 70, 75 epochs, batch 256 (8 GPUs x 32), L2
# 1e-5 on the kernels (weight decay 2e-5). Trained alone here; the recipe trains it against the
# ResNet-18 with kd-at_r2b-fp_8xb32_in1k.py.
_base_ = [
    '../_base_/models/real-to-binary.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        norm_cfg=dict(type='BN', momentum=0.01),  # Keras' 0.99
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='FPProxy', kind='tanh'),
                      weight_binarizer=None)))
custom_hooks = []  # real weights: nothing to clip
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=2e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
# larq-zoo's R2BStepSchedule
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[40, 60, 70], gamma=0.3),
]
train_cfg = dict(by_epoch=True, max_epochs=75, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
