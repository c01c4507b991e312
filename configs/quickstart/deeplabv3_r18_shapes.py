# Full-precision reference of the segmentation quick start: the same DeepLabV3 with a real
# ResNetV1c-18 of the same width (8) and output stride 8, and mmseg's real ASPPHead with the same
# rates; data, optimizer and schedule of deeplabv3_groupnet-r18_shapes.py.
_base_ = ['./deeplabv3_groupnet-r18_shapes.py']

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
