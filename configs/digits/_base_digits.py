# Dataset, schedule and runtime of the digits comparison (configs/digits/README.md).
# scikit-learn's handwritten digits (mmbnn.DigitsDataset, ships with scikit-learn): 1437 train /
# 360 test 8x8 images, stratified split with seed 0, at their own 8x8 size (set img_size = 16 to
# upsample them: about 2x the cost). Adam (lr 1e-3, no weight decay), cosine to 0, batch 64,
# 30 epochs; the test split is evaluated once, at the end.
# The model files add `model` (a CIFAR-stem ResNet-18 of width 16: feature dim 128).
_base_ = ['mmpretrain::_base_/default_runtime.py']

img_size = 8
max_epochs = 30

data_preprocessor = dict(
    num_classes=10,
    # mean and std of the digits scaled to 0..255 (grey, repeated over 3 channels)
    mean=[77.84] * 3,
    std=[95.89] * 3,
    to_rgb=False)

train_pipeline = [
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='mmbnn.DigitsDataset', split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=120,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='mmbnn.DigitsDataset', split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True,
         convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=False)
