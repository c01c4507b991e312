# Binary FCOS with Group-Net (Zhuang et al., IJCV 2022), stage 2 of Group-Net's two-stage recipe:
# Group-Net ResNet-18 backbone with K=5 binary bases per group (group decomposition), binary FPN
# (K-base binary lateral / output / P6-P7 convs, BN per level), Group-Net FCOS head (K-base binary
# towers shared across levels, BN per level, full-precision cls / box / centerness convs). Real-
# valued (Bi-Real) shortcuts around the binary convs of the neck and head; the K bases of every
# layer-wise conv of the neck and head binarize their shared input at their own thresholds
# (mmbnn.BaseShiftSign). Everything else is mmdet's FCOS 1x on COCO.
#
# Stage 1, fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py, trains this same K-base detector with
# tanh in place of sign and real weights, from torchvision's ResNet-18; this config binarizes it
# and fine-tunes it (load_from its last checkpoint; Adam lr 5e-4, no weight decay):
#   python tools/train.py configs/fcos/fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py
#   python tools/train.py configs/fcos/fcos_groupnet-r18-5b_fpn_1x_coco.py
# Not trained on COCO in this repository (see configs/fcos/README.md).
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'

custom_imports = dict(
    imports=['mmbnn.datasets.coco_checked', 'mmbnn.engine.class_num_check_hook'],
    allow_failed_imports=False)

from mmbnn.layers import groupnet_conv_cfg  # noqa: E402 (after _base_: an inherited config)

num_bases = 5
# Group-Net's binary conv, defined once in mmbnn.layers.groupnet_conv (GROUPNET_CONV: ApproxSign
# activations, XNOR weights, +1 padding) in the backbone; in the neck and head the layer-wise
# K-base conv whose bases have their own activation thresholds (BaseShiftSign), K from the
# neck's / head's num_bases. The stage-1 configs swap the binarizers for the tanh proxy and
# real weights.
backbone_conv = groupnet_conv_cfg()
dense_conv = groupnet_conv_cfg(multi_base=True, base_shifts=True)

model = dict(
    # torchvision's ImageNet weights: RGB, torchvision's mean / std
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=num_bases,
        conv_cfg=backbone_conv,
        out_indices=(1, 2, 3),  # C3-C5: strides 8, 16, 32
        frozen_stages=-1,  # binary groups re-learn their BN statistics
        norm_eval=False,
        init_cfg=None),  # every weight comes from stage 1 (load_from)
    neck=dict(
        _delete_=True,
        type='mmbnn.BinaryFPN',
        in_channels=[128, 256, 512],
        out_channels=256,
        num_bases=num_bases,
        conv_cfg=dense_conv,
        start_level=0,
        add_extra_convs='on_output',  # P6 from P5, P7 from P6
        relu_before_extra_convs=False,  # ReLU before sign() would make P7's input all +1
        num_outs=5),
    bbox_head=dict(
        type='mmbnn.GroupNetFCOSHead',
        num_bases=num_bases,
        conv_cfg=dense_conv,
        norm_cfg=dict(type='BN', requires_grad=True)))

dataset_type = 'mmbnn.CheckedCocoDataset'
coco_hint = 'download COCO 2017 (https://cocodataset.org) into {root}'
train_dataloader = dict(dataset=dict(type=dataset_type, hint=coco_hint))
val_dataloader = dict(dataset=dict(type=dataset_type, hint=coco_hint))
test_dataloader = val_dataloader

# Binary weights: Adam as Group-Net's fine-tuning recipe, no weight decay on them; mmdet's 1x
# epochs and steps.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=5e-4, weight_decay=0),
    clip_grad=dict(max_norm=35, norm_type=2))

custom_hooks = [dict(type='mmbnn.ClassNumCheckHook')]
load_from = 'work_dirs/fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco/epoch_12.pth'
