# Binary FCOS with Group-Net (Zhuang et al., IJCV 2022): Group-Net ResNet-18 backbone with K=5
# binary bases per group (group decomposition), binary FPN (K-base binary lateral / output /
# P6-P7 convs, BN per level), Group-Net FCOS head (K-base binary towers shared across levels, BN
# per level, full-precision cls / box / centerness convs). Real-valued (Bi-Real) shortcuts
# around the binary convs of the neck and head. Everything else is mmdet's FCOS 1x on COCO.
# Not trained on COCO in this repository (see configs/fcos/README.md).
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'

custom_imports = dict(
    imports=['mmbnn.datasets.coco_checked', 'mmbnn.engine.class_num_check_hook'],
    allow_failed_imports=False)

num_bases = 5

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
        out_indices=(1, 2, 3),  # C3-C5: strides 8, 16, 32
        frozen_stages=-1,  # binary groups re-learn their BN statistics
        norm_eval=False,
        # the full-precision ResNet-18 copied into every base (Group-Net's initialisation)
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(
        _delete_=True,
        type='mmbnn.BinaryFPN',
        in_channels=[128, 256, 512],
        out_channels=256,
        num_bases=num_bases,
        start_level=0,
        add_extra_convs='on_output',  # P6 from P5, P7 from P6
        relu_before_extra_convs=False,  # ReLU before sign() would make P7's input all +1
        num_outs=5),
    bbox_head=dict(
        type='mmbnn.GroupNetFCOSHead',
        num_bases=num_bases,
        norm_cfg=dict(type='BN', requires_grad=True)))

dataset_type = 'mmbnn.CheckedCocoDataset'
coco_hint = 'download COCO 2017 (https://cocodataset.org) into {root}'
train_dataloader = dict(dataset=dict(type=dataset_type, hint=coco_hint))
val_dataloader = dict(dataset=dict(type=dataset_type, hint=coco_hint))
test_dataloader = val_dataloader

# Binary weights: Adam as Group-Net's fine-tuning recipe, no weight decay on them; same 1x
# epochs and steps as the full-precision reference (fcos_r18_fpn_1x_coco.py).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=5e-4, weight_decay=0),
    clip_grad=dict(max_norm=35, norm_type=2))

custom_hooks = [dict(type='mmbnn.ClassNumCheckHook')]
