# A tiny mmdet FCOS with a binary ResNet-18 backbone (binary convs through conv_cfg) and a real FPN
# and head, for the model summary tool. Only the model and the test pipeline are given.
default_scope = 'mmdet'

model = dict(
    type='FCOS',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, num_stages=4,
                  out_indices=(1, 2, 3), frozen_stages=-1, norm_eval=False,
                  conv_cfg=dict(type='mmbnn.BinaryConv2d'), init_cfg=None),
    neck=dict(type='FPN', in_channels=[16, 32, 64], out_channels=16, start_level=0,
              add_extra_convs='on_output', num_outs=5, relu_before_extra_convs=True),
    bbox_head=dict(type='FCOSHead', num_classes=2, in_channels=16, stacked_convs=1,
                   feat_channels=16, strides=[8, 16, 32, 64, 128],
                   norm_cfg=dict(type='GN', num_groups=4, requires_grad=True)),
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=10))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64), keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
test_dataloader = dict(batch_size=1, num_workers=0,
                       dataset=dict(type='CocoDataset', data_root='data/tiny_det',
                                    ann_file='annotations.json', pipeline=test_pipeline,
                                    test_mode=True))
