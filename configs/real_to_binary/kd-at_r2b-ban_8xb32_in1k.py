# Stage 2 of Real-to-Binary's recipe (larq-zoo's TrainR2BBAN): stage 1 (its losses, cross-entropy
# + 3.0 x KL + 30 x attention transfer at the eight blocks, and its schedule) with binary
# activations and real weights (the network of r2b-ban_8xb32_in1k.py) as the student, and stage
# 1's tanh network as the teacher.
_base_ = ['./kd-at_r2b-fp_8xb32_in1k.py']

model = dict(
    student=dict(
        backbone=dict(conv_cfg=dict(act_binarizer=dict(_delete_=True, type='STESign')))),
    teacher=dict(config='real_to_binary/r2b-fp_8xb32_in1k.py',
                 checkpoint='work_dirs/kd-at_r2b-fp_8xb32_in1k/epoch_75.pth'),
    distill_losses=dict(loss_at=dict(teacher={{_base_.student_blocks}})))
