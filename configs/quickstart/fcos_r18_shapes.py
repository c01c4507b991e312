# Full-precision reference for the quick start: mmdet's FCOS (ResNet-18, FPN, GN head) at the
# same width, depth, data, optimizer and batch as fcos_groupnet-r18_shapes.py, trained from
# scratch for as many epochs as the binary detector's two stages together (stage 1 + stage 2),
# with stage 1's Adam lr 1e-3 and cosine schedule. tools/analysis/bench_fcos_shapes.py compares
# the two.
_base_ = './fcos_groupnet-r18_shapes.py'

width = 16
max_epochs = {{_base_.two_stage_epochs}}
lr = 1e-3
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        stem_channels=width,
        base_channels=width,
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch'),
    neck=dict(
        _delete_=True,
        type='FPN',
        in_channels=[2 * width, 4 * width, 8 * width],
        out_channels=2 * width,
        start_level=0,
        add_extra_convs='on_output',
        relu_before_extra_convs=True,
        num_outs=5),
    bbox_head=dict(
        _delete_=True,
        type='FCOSHead',
        num_classes=3,
        in_channels=2 * width,
        feat_channels=2 * width,
        stacked_convs=2,
        strides=[8, 16, 32, 64, 128],
        regress_ranges=((-1, 16), (16, 32), (32, 64), (64, 128), (128, 1e8)),
        center_sampling=True,
        norm_on_bbox=True,
        centerness_on_reg=True,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
load_from = None
