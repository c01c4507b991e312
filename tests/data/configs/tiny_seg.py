# A tiny mmseg FCN with a binary ResNetV1c-18 backbone (binary convs through conv_cfg) and a real
# decode head, for the model summary tool. Only the model and the test pipeline are given; the
# summary takes its input size (H 48, W 64) from the Resize below.
default_scope = 'mmseg'

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255),
    backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8, num_stages=4,
                  out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                  contract_dilation=True, conv_cfg=dict(type='mmbnn.BinaryConv2d'),
                  init_cfg=None),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=3, channels=16, num_convs=1,
                     concat_input=False, dropout_ratio=0.1, num_classes=3, align_corners=False),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 48), keep_ratio=False),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(batch_size=1, num_workers=0,
                       dataset=dict(type='BaseSegDataset', data_root='data/tiny_seg',
                                    pipeline=test_pipeline))
