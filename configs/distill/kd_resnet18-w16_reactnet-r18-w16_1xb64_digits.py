# ReActNet-style ResNet-18 (width 16) on the digits, trained against the full-precision ResNet-18:
# the student's cross-entropy plus ReActNet's distributional loss on the logits, as
# kd_resnet18-w16_birealnet-r18-w16_1xb64_digits.py (read it for the teacher chain). ReActNet
# itself drops the cross-entropy: --cfg-options model.with_student_loss=False.
_base_ = ['../digits/reactnet-r18-w16_1xb64_digits.py']

model = dict(
    _delete_=True,
    type='mmbnn.SingleTeacherDistiller',
    student={{_base_.model}},
    teacher=dict(config='digits/resnet18-w16_1xb64_digits.py',
                 checkpoint='work_dirs/resnet18-w16_1xb64_digits/epoch_30.pth'),
    distill_losses=dict(
        loss_kd=dict(type='mmbnn.DistributionLoss', temperature=1.0, loss_weight=1.0,
                     student='head.fc', teacher='head.fc')))
