# ReActNet-style ResNet-18 (width 16) on MNIST-5k, trained against the full-precision
# ResNet-18 of the same width: the student's cross-entropy plus ReActNet's distributional
# loss on the logits, as the digits configs. Same data, schedule and student as
# ../mnist/reactnet-r18-w16_1xb64_mnist5k.py. The teacher first:
#
#   python tools/train.py configs/mnist/resnet18-w16_1xb64_mnist5k.py
#   python tools/train.py configs/distill/kd_resnet18-w16_reactnet-r18-w16_1xb64_mnist5k.py
#
# (another teacher checkpoint: --cfg-options model.teacher.checkpoint=PATH).
_base_ = ['../mnist/reactnet-r18-w16_1xb64_mnist5k.py']

model = dict(
    _delete_=True,
    type='mmbnn.SingleTeacherDistiller',
    student={{_base_.model}},
    teacher=dict(config='mnist/resnet18-w16_1xb64_mnist5k.py',
                 checkpoint='work_dirs/resnet18-w16_1xb64_mnist5k/epoch_10.pth'),
    distill_losses=dict(
        loss_kd=dict(type='mmbnn.DistributionLoss', temperature=1.0, loss_weight=1.0,
                     student='head.fc', teacher='head.fc')))
