# Quick start: binary segmentation on synthetic shapes, on a CPU, no download; stage 2 of
# Group-Net's two-stage recipe (stage 1: deeplabv3_groupnet-r18_stage1-tanh_shapes.py):
#
#   python tools/dataset_converters/make_shapes_seg.py --out data/shapes_seg
#   python tools/train.py configs/quickstart/deeplabv3_groupnet-r18_stage1-tanh_shapes.py
#   python tools/train.py configs/quickstart/deeplabv3_groupnet-r18_shapes.py
#
# Group-Net ResNet-18 (K=5 binary bases per group, width 8: stage channels 8/16/32/64) with
# Binary Parallel Atrous Convolution (one dilation per base in stages 3 and 4, output stride 8),
# and a binary DeepLabV3 head (ASPP branches of K binary bases, which binarize their shared input
# at per-base thresholds, mmbnn.BaseShiftSign; real projection and classifier).
# Data: 600 train / 200 val images of 96x96; classes background, circle, square, triangle.
# Stage 1 trains this same K-base model with tanh in place of sign and real weights (Adam lr
# 5e-3, poly, from scratch); this config binarizes it (load_from stage 1's last checkpoint) and
# fine-tunes it: Adam lr 1e-3, poly, batch 4.
# The narrow width and small rates fit the 96x96 images (12x12 feature maps): the paper's
# ImageNet-width model and its rates (BPAC 2..6 / 6..10, ASPP 12/24/36) are in
# configs/deeplabv3_groupnet/.
_base_ = ['mmseg::_base_/default_runtime.py']

data_root = 'data/shapes_seg'
crop_size = (96, 96)
num_classes = 4
num_bases = 5
stage1_iters = 1600  # deeplabv3_groupnet-r18_stage1-tanh_shapes.py
max_iters = 600
two_stage_iters = stage1_iters + max_iters  # the full-precision reference's iterations
lr = 1e-3
norm_cfg = dict(type='BN', requires_grad=True)
# Group-Net's binary conv (mmbnn.layers.GROUPNET_CONV, defined once in mmbnn.layers.groupnet_conv)
# in the backbone; the ASPP branches' K-base conv with per-base thresholds, K from the head's
# num_bases. The stage-1 config swaps the binarizers for the tanh proxy and real weights.
from mmbnn.layers import groupnet_conv_cfg  # noqa: E402 (after _base_: an inherited config)

backbone_conv = groupnet_conv_cfg()
branch_conv = groupnet_conv_cfg(multi_base=True, base_shifts=True)

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=num_bases,
        conv_cfg=backbone_conv,
        stem='deep',
        stem_channels=8,
        base_channels=8,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        # BPAC: base k of every block in stage 3 / 4 uses the k-th rate.
        base_dilations=(None, None, (1, 2, 3, 4, 5), (2, 3, 4, 5, 6)),
        # K per-base downsamples: the architecture of the published zoo models
        # (mmbnn://deeplabv3_groupnet-r18_shapes, -nobpac); the official code's one shared
        # downsample (configs/deeplabv3_groupnet) is shared_downsample=True
        shared_downsample=False,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='mmbnn.BinaryASPPHead',
        in_channels=64,
        in_index=3,
        channels=32,
        dilations=(1, 2, 4, 6),
        num_bases=num_bases,
        branch_conv_cfg=branch_conv,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='mmbnn.ShapesSegDataset',
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=10,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='mmbnn.ShapesSegDataset',
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# Adam, as Group-Net's binary fine-tuning.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=lr, weight_decay=0))
param_scheduler = [
    dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
load_from = f'work_dirs/deeplabv3_groupnet-r18_stage1-tanh_shapes/iter_{stage1_iters}.pth'
