# BinaryDenseNet37Dilated on ImageNet with larq-zoo's recipe (TrainBinaryDenseNet37Dilated):
# Adam lr 4e-3, x0.1 at epochs 60 and 70, 80 epochs, batch 256 (8 GPUs x 32). The last two
# stages keep the resolution (no max-pool before them) and dilate their convs by 2 and 4.
_base_ = ['./binary-densenet28_8xb32_in1k.py']
model = dict(backbone=dict(arch='37-dilated'), head=dict(in_channels=640))
param_scheduler = dict(milestones=[60, 70])
train_cfg = dict(max_epochs=80)
