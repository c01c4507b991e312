# Stage 1 of Real-to-Binary's recipe (larq-zoo's TrainR2BBFP): the tanh / real-weight network
# (r2b-fp_8xb32_in1k.py, its schedule) against the full-precision ResNet-18 of stage 0:
# cross-entropy + 3.0 x the KL of the class distributions (T = 1) + 30 x attention transfer at the
# end of each of the eight blocks (larq's form: max-normalised maps, mean squared difference).
#
#   python tools/train.py configs/real_to_binary/r2b-resnet18_8xb64_in1k.py        # stage 0
#   python tools/train.py configs/real_to_binary/kd-at_r2b-fp_8xb32_in1k.py        # stage 1
#   python tools/train.py configs/real_to_binary/kd-at_r2b-ban_8xb32_in1k.py       # stage 2
#   python tools/train.py configs/real_to_binary/kd_r2b_8xb32_in1k.py              # stage 3
_base_ = ['./r2b-fp_8xb32_in1k.py']

student_blocks = [f'backbone.stages.{i}.{j}' for i in range(4) for j in range(2)]
teacher_blocks = [f'backbone.layer{i + 1}.{j}' for i in range(4) for j in range(2)]
model = dict(
    _delete_=True,
    type='mmbnn.SingleTeacherDistiller',
    student={{_base_.model}},
    teacher=dict(config='real_to_binary/r2b-resnet18_8xb64_in1k.py',
                 checkpoint='work_dirs/r2b-resnet18_8xb64_in1k/epoch_100.pth'),
    distill_losses=dict(
        loss_kd=dict(type='mmbnn.DistributionLoss', temperature=1.0, loss_weight=3.0,
                     student='head.fc', teacher='head.fc'),
        loss_at=dict(type='mmbnn.AttentionTransferLoss', form='larq', loss_weight=30.0,
                     student=student_blocks, teacher=teacher_blocks)))
