# Group-Net DeepLabV3 on Cityscapes, stage 1 of 2: the K=5 model of
# deeplabv3_groupnet-r18-5b-d8_4xb2-80k_cityscapes-512x1024.py with tanh in place of sign and real
# weights (per-base thresholds in the ASPP branches, mmbnn.BaseShiftProxy), every base from the
# ImageNet ResNetV1c-18 (see deeplabv3_groupnet-r18-5b-d8_stage1-tanh_4xb4-20k_voc12aug-512x512.py).
# Stage 2 loads the last checkpoint of this config's default work dir.
_base_ = './deeplabv3_groupnet-r18-5b-d8_4xb2-80k_cityscapes-512x1024.py'

model = dict(
    backbone=dict(
        conv_cfg=dict(act_binarizer=dict(_delete_=True, type='FPProxy', kind='tanh'),
                      weight_binarizer=None),
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint='open-mmlab://resnet18_v1c')),
    decode_head=dict(branch_conv_cfg=dict(
        act_binarizer=dict(_delete_=True, type='BaseShiftProxy'), weight_binarizer=None)))

# mmseg's full-precision DeepLabV3 optimizer (SGD lr 0.01, momentum 0.9, weight decay 5e-4, poly);
# no weight decay on biases, which include the per-base thresholds (named `bias`)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005),
    paramwise_cfg=dict(bias_decay_mult=0.),
    clip_grad=None)
load_from = None
