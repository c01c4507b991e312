# BinaryDenseNet37 on ImageNet with larq-zoo's recipe (TrainBinaryDenseNet37): BinaryDenseNet28's
# (Adam lr 4e-3, x0.1 at 100 and 110, 120 epochs) at batch 192 (8 GPUs x 24).
_base_ = ['./binary-densenet28_8xb32_in1k.py']
model = dict(backbone=dict(arch='37'), head=dict(in_channels=640))
train_dataloader = dict(batch_size=24)
auto_scale_lr = dict(base_batch_size=192)
