# Stage 3 of Real-to-Binary's recipe (larq-zoo's TrainR2BBNNAlternative): the binary network
# (r2b_8xb32_in1k.py, its schedule), initialised from stage 2 and trained against it:
# cross-entropy + 0.8 x the KL of the class distributions (T = 1); no attention transfer (larq's
# weight 0). The result is the model that larq-zoo publishes as RealToBinaryNet (65.01 %).
_base_ = ['./r2b_8xb32_in1k.py']

model = dict(
    _delete_=True,
    type='mmbnn.SingleTeacherDistiller',
    student={{_base_.model}},
    teacher=dict(config='real_to_binary/r2b-ban_8xb32_in1k.py',
                 checkpoint='work_dirs/kd-at_r2b-ban_8xb32_in1k/epoch_75.pth'),
    distill_losses=dict(
        loss_kd=dict(type='mmbnn.DistributionLoss', temperature=1.0, loss_weight=0.8,
                     student='head.fc', teacher='head.fc')))
load_from = 'work_dirs/kd-at_r2b-ban_8xb32_in1k/epoch_75.pth'
