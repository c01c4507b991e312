# Group-Net FCOS, stage 1 of 2 (Group-Net's recipe, as its official pretrain.py): the K=5 detector
# of fcos_groupnet-r18-5b_fpn_1x_coco.py with tanh in place of sign and real weights in every
# binary conv of the backbone, the FPN and the head (the same +1 padding, the same K-base
# structure). The K bases of a layer-wise conv of the neck / head share their input, and one tanh
# for all of them would make them ONE real conv; mmbnn.BaseShiftProxy gives each base its own
# threshold, tanh(x - b_k), which stage 2 keeps as sign(x - b_k) (mmbnn.BaseShiftSign, same
# `bias` key). Every base of the backbone starts from torchvision's ResNet-18 (bases k > 0
# perturbed, base_noise 0.1); mmdet's FP FCOS optimizer (SGD lr 0.01, 1x). Stage 2 loads the
# last checkpoint of this config's default work dir.
_base_ = './fcos_groupnet-r18-5b_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        conv_cfg=dict(act_binarizer=dict(_delete_=True, type='FPProxy', kind='tanh'),
                      weight_binarizer=None),
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(conv_cfg=dict(act_binarizer=dict(_delete_=True, type='BaseShiftProxy'),
                            weight_binarizer=None)),
    bbox_head=dict(conv_cfg=dict(act_binarizer=dict(_delete_=True, type='BaseShiftProxy'),
                                 weight_binarizer=None)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
load_from = None
