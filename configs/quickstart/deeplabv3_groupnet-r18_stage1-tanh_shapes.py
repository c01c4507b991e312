# Segmentation quick start, stage 1 of 2: the K=5 Group-Net DeepLabV3 (BPAC) of
# deeplabv3_groupnet-r18_shapes.py with tanh in place of sign and real weights in every binary
# conv (backbone and ASPP branches; same +1 padding, same K-base structure), trained from scratch
# with Adam lr 5e-3, poly. The K bases of an ASPP branch share their input: one tanh for all of
# them would make them one real conv, so each base gets its own threshold, tanh(x - b_k)
# (mmbnn.BaseShiftProxy), which stage 2 keeps as sign(x - b_k) (mmbnn.BaseShiftSign, the same
# `bias` key). Then
#   python tools/train.py configs/quickstart/deeplabv3_groupnet-r18_shapes.py
# binarizes the last checkpoint of this config's default work dir and fine-tunes it.
_base_ = './deeplabv3_groupnet-r18_shapes.py'

max_iters = {{_base_.stage1_iters}}
lr = 5e-3

model = dict(
    backbone=dict(conv_cfg=dict(act_binarizer=dict(_delete_=True, type='FPProxy', kind='tanh'),
                                weight_binarizer=None)),
    decode_head=dict(branch_conv_cfg=dict(
        act_binarizer=dict(_delete_=True, type='BaseShiftProxy'), weight_binarizer=None)))

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = None
