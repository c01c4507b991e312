# Real-to-Binary Net, the final binary network (larq-zoo's RealToBinaryNet, r2b_bnn): sign
# activations and sign weights (no scale), latent weights clipped to [-1, 1]. The schedule of
# stage 3 (larq-zoo's TrainR2BBNNAlternative, the one its TrainR2B runs): Adam lr 2e-4, 10 linear
# warm-up epochs from 0, then cosine to 0 at epoch 75, batch 256, no weight decay. The recipe
# trains it from stage 2's network against it with kd_r2b_8xb32_in1k.py; the paper's step
# schedule (larq's TrainR2BBNN: warm-up 5, x0.3 at 40/60/70) is the one of r2b-fp_8xb32_in1k.py.
_base_ = [
    '../_base_/models/real-to-binary.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
model = dict(backbone=dict(norm_cfg=dict(type='BN', momentum=0.01)))  # Keras' 0.99
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4, weight_decay=0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=65, eta_min=0, by_epoch=True, begin=10, end=75,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=75, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
