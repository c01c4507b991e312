# Quick start, stage 1 of 2: the K=5 Group-Net FCOS of fcos_groupnet-r18_shapes.py with tanh in
# place of sign and real weights in every binary conv (backbone, FPN, head; same +1 padding, same
# K-base structure), trained from scratch with Adam lr 1e-3, cosine. The K bases of a layer-wise
# conv of the neck / head share their input: one tanh for all of them would make them one real
# conv, so each base gets its own threshold, tanh(x - b_k) (mmbnn.BaseShiftProxy), which stage 2
# keeps as sign(x - b_k) (mmbnn.BaseShiftSign, the same `bias` key). Then
#   python tools/train.py configs/quickstart/fcos_groupnet-r18_shapes.py
# binarizes the last checkpoint of this config's default work dir and fine-tunes it.
_base_ = './fcos_groupnet-r18_shapes.py'

max_epochs = {{_base_.stage1_epochs}}
lr = 1e-3

model = dict(
    backbone=dict(conv_cfg=dict(act_binarizer=dict(_delete_=True, type='FPProxy', kind='tanh'),
                                weight_binarizer=None)),
    neck=dict(conv_cfg=dict(act_binarizer=dict(_delete_=True, type='BaseShiftProxy'),
                            weight_binarizer=None)),
    bbox_head=dict(conv_cfg=dict(act_binarizer=dict(_delete_=True, type='BaseShiftProxy'),
                                 weight_binarizer=None)))

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
load_from = None
