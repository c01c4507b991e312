# Group-Net DeepLabV3 on PASCAL VOC 2012 aug, stage 1 of 2 (Group-Net's recipe, as its official
# pretrain.py): the K=5 model of deeplabv3_groupnet-r18-5b-d8_4xb4-20k_voc12aug-512x512.py with
# tanh in place of sign and real weights in every binary conv (backbone and ASPP branches; same
# +1 padding, same K-base structure). The K bases of an ASPP branch share their input, and one tanh
# for all of them would make them ONE real conv: each base gets its own threshold, tanh(x - b_k)
# (mmbnn.BaseShiftProxy), which stage 2 keeps as sign(x - b_k) (mmbnn.BaseShiftSign, same `bias`
# key). Every base starts from the ImageNet ResNetV1c-18 (bases k > 0 perturbed, base_noise 0.1).
# Stage 2 loads the last checkpoint of this config's default work dir.
_base_ = './deeplabv3_groupnet-r18-5b-d8_4xb4-20k_voc12aug-512x512.py'

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
