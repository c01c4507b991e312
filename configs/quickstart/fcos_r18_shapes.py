# Full-precision reference for the quick start: mmdet's FCOS (ResNet-18, FPN, GN head) at the
# same width, depth, data, schedule and optimizer as fcos_groupnet-r18_shapes.py, trained from
# scratch. tools/analysis/bench_fcos_shapes.py compares the two.
_base_ = './fcos_groupnet-r18_shapes.py'

width = 16
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
