# Stage 2 of the binary FCOS quick start (../quickstart/fcos_groupnet-r18_shapes.py: Group-Net
# ResNet-18 K=5, binary FPN and head, loading stage 1) trained against the full-precision FCOS of
# ../quickstart/fcos_r18_shapes.py as teacher. Besides the detector's own losses:
#   - loss_kd_cls: the teacher's class scores as soft targets at every location of every level
#     (Bernoulli KL per class, sigmoid scores), the level's positives (FCOS's own assignment)
#     averaged apart from the other locations (mmbnn.DenseSoftTargetLoss);
#   - loss_mimic: the FPN features imitate the teacher's at the positives of every level (FGFI,
#     as LWS-Det uses it for 1-bit detectors), each channel standardised first (PKD), since a
#     binary FPN and a real one differ in scale (mmbnn.FeatureMimicLoss).
# The chain (the stage-1 and teacher checkpoints at their configs' default work dirs):
#
#   python tools/dataset_converters/make_shapes_coco.py --out data/shapes_coco
#   python tools/train.py configs/quickstart/fcos_r18_shapes.py                      # teacher
#   python tools/train.py configs/quickstart/fcos_groupnet-r18_stage1-tanh_shapes.py # stage 1
#   python tools/train.py configs/distill/kd_fcos-r18_fcos-groupnet-r18_shapes.py    # stage 2
#
# (--cfg-options model.teacher.checkpoint=PATH load_from=STAGE1_PATH to use others). The
# checkpoint holds the student alone: test it with this config or the stage-2 config.
_base_ = '../quickstart/fcos_groupnet-r18_shapes.py'

model = dict(
    _delete_=True,
    type='mmbnn.SingleTeacherDistiller',
    student={{_base_.model}},
    teacher=dict(config='quickstart/fcos_r18_shapes.py',
                 checkpoint='work_dirs/fcos_r18_shapes/epoch_24.pth'),
    distill_losses=dict(
        loss_kd_cls=dict(type='mmbnn.DenseSoftTargetLoss', temperature=1.0, pos_weight=1.0,
                         neg_weight=1.0, loss_weight=1.0, student='bbox_head.conv_cls',
                         teacher='bbox_head.conv_cls', mask='positives'),
        loss_mimic=dict(type='mmbnn.FeatureMimicLoss', normalize=True, loss_weight=0.02,
                        student='neck', teacher='neck', mask='positives')))
