# Quick start: binary FCOS (Group-Net ResNet-18) on the synthetic shapes, on a CPU, stage 2 of
# Group-Net's two-stage recipe. Stage 1 is fcos_groupnet-r18_stage1-tanh_shapes.py:
#
#   python tools/dataset_converters/make_shapes_coco.py --out data/shapes_coco
#   python tools/train.py configs/quickstart/fcos_groupnet-r18_stage1-tanh_shapes.py
#   python tools/train.py configs/quickstart/fcos_groupnet-r18_shapes.py
#
# The data: 400 train / 100 val images of 64x64 pixels, 1-4 circles, squares and triangles each
# (objects of 16-26 pixels). The model of configs/fcos_groupnet.py (Group-Net backbone, binary
# FPN, Group-Net FCOS head, every binary conv with K=5 bases; the neck's and head's K-base convs
# binarize at per-base thresholds) made small enough for a CPU: width 16 instead of 64 (C3-C5:
# 32/64/128 channels, FPN and head 32 channels), 2 tower convs instead of 4. The FCOS regression
# ranges are scaled down to the object sizes, and the head uses FCOS's improvements (center
# sampling, GIoU loss, norm_on_bbox, centerness on the regression branch).
# Stage 1 trains this same K-base detector with tanh in place of sign and real weights (from
# scratch: torchvision's weights are for width 64 and need a download); this config binarizes it
# (load_from stage 1's last checkpoint) and fine-tunes it: Adam lr 5e-4, cosine, batch 8.
# configs/quickstart/fcos_r18_shapes.py is the full-precision FCOS with the same everything,
# trained for as many epochs as both stages together.
_base_ = '../fcos/fcos_groupnet-r18-5b_fpn_1x_coco.py'

data_root = 'data/shapes_coco/'
classes = ('circle', 'square', 'triangle')  # mmbnn.datasets.shapes.SHAPE_CLASSES
num_bases = 5
width = 16
stage1_epochs = 12  # fcos_groupnet-r18_stage1-tanh_shapes.py
max_epochs = 12
two_stage_epochs = stage1_epochs + max_epochs  # the full-precision reference's epochs
lr = 5e-4
batch_size = 8

model = dict(
    # K per-base downsamples (shared_downsample=False): the architecture of the published zoo
    # models (mmbnn://fcos_groupnet-r18_shapes, mmbnn://fcos_groupnet-r18-3b_shapes); the
    # official code's one downsample shared by the K bases (configs/fcos) is
    # shared_downsample=True (both measured, docs/en/benchmarks.md: per-base 0.552, shared 0.526
    # bbox mAP, 3 seeds)
    backbone=dict(num_bases=num_bases, stem_channels=width, base_channels=width,
                  shared_downsample=False),
    neck=dict(in_channels=[2 * width, 4 * width, 8 * width], out_channels=2 * width,
              num_bases=num_bases),
    bbox_head=dict(
        num_classes=len(classes),
        in_channels=2 * width,
        feat_channels=2 * width,
        stacked_convs=2,
        num_bases=num_bases,
        regress_ranges=((-1, 16), (16, 32), (32, 64), (64, 128), (128, 1e8)),
        center_sampling=True,
        norm_on_bbox=True,
        centerness_on_reg=True,
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0)),
    test_cfg=dict(nms_pre=1000, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.6),
                  max_per_img=100))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale_factor=1.0),  # images keep their size (sets scale_factor)
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale_factor=1.0),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    drop_last=True,  # a batch of one image would break BN on the 1x1 P7 map
    batch_sampler=None,
    dataset=dict(
        type='mmbnn.CheckedCocoDataset',
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
        hint='generate it with `python tools/dataset_converters/make_shapes_coco.py '
        '--out {root}`',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='mmbnn.CheckedCocoDataset',
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        metainfo=dict(classes=classes),
        hint='generate it with `python tools/dataset_converters/make_shapes_coco.py '
        '--out {root}`',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
load_from = f'work_dirs/fcos_groupnet-r18_stage1-tanh_shapes/epoch_{stage1_epochs}.pth'
