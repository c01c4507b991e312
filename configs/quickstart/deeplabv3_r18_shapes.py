# Full-precision reference of the segmentation quick start: the same DeepLabV3 with a real
# ResNetV1c-18 of the same width (8) and output stride 8, and mmseg's real ASPPHead with the same
# rates; the data of deeplabv3_groupnet-r18_shapes.py, trained from scratch for as many
# iterations as its two stages together, with stage 1's optimizer (Adam lr 5e-3, poly).
_base_ = ['./deeplabv3_groupnet-r18_shapes.py']

max_iters = {{_base_.two_stage_iters}}
lr = 5e-3

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=18,
        num_stages=4,
        stem_channels=8,
        base_channels=8,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        out_indices=(0, 1, 2, 3),
        norm_cfg={{_base_.norm_cfg}},
        init_cfg=None),
    decode_head=dict(_delete_=True, type='ASPPHead', in_channels=64, in_index=3, channels=32,
                     dilations=(1, 2, 4, 6), dropout_ratio=0.1, num_classes=4,
                     norm_cfg={{_base_.norm_cfg}}, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0)))

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = None
