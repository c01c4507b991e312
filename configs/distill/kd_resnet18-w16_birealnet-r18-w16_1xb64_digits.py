# Bi-Real Net-18 (width 16) on the digits, trained against the full-precision ResNet-18 of the same
# width as teacher: the student's cross-entropy plus ReActNet's distributional loss (the KL of the
# student's class distribution from the teacher's, T = 1) on the classifiers' logits. Same data,
# schedule and student as ../digits/birealnet-r18-w16_1xb64_digits.py. The teacher first:
#
#   python tools/train.py configs/digits/resnet18-w16_1xb64_digits.py
#   python tools/train.py configs/distill/kd_resnet18-w16_birealnet-r18-w16_1xb64_digits.py
#
# (another teacher checkpoint: --cfg-options model.teacher.checkpoint=PATH; mmbnn://NAME works
# too). The checkpoint holds the student alone: test it with this config or the student's.
_base_ = ['../digits/birealnet-r18-w16_1xb64_digits.py']

model = dict(
    _delete_=True,
    type='mmbnn.SingleTeacherDistiller',
    student={{_base_.model}},
    teacher=dict(config='digits/resnet18-w16_1xb64_digits.py',
                 checkpoint='work_dirs/resnet18-w16_1xb64_digits/epoch_30.pth'),
    distill_losses=dict(
        loss_kd=dict(type='mmbnn.DistributionLoss', temperature=1.0, loss_weight=1.0,
                     student='head.fc', teacher='head.fc')))
