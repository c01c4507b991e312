# BinaryDenseNet45 on ImageNet with larq-zoo's recipe (TrainBinaryDenseNet45): Adam lr 8e-3,
# x0.1 at epochs 80 and 100, 125 epochs, batch 384 (8 GPUs x 48).
_base_ = ['./binary-densenet28_8xb32_in1k.py']
model = dict(backbone=dict(arch='45'), head=dict(in_channels=800))
train_dataloader = dict(batch_size=48)
optim_wrapper = dict(optimizer=dict(lr=8e-3))
param_scheduler = dict(milestones=[80, 100])
train_cfg = dict(max_epochs=125)
auto_scale_lr = dict(base_batch_size=384)
