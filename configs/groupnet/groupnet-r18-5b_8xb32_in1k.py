# Group-Net ResNet-18 with K=5 binary bases per group (Zhuang et al., CVPR 2019), ImageNet.
# Group decomposition (each base a whole binary copy of a residual block, summed with learned
# lambda at the block's end), ApproxSign activations and XNOR weights (sign * mean|w| per output
# channel), binary conv -> ReLU -> BN -> add, binary 1x1 downsample; stem and classifier stay
# full precision. Trained binary from random initialisation with Group-Net's binary-stage
# schedule (Adam lr 5e-4, no weight decay, 40 epochs, x0.1 at 20 and 30, batch 8x32 = 256).
# The paper's recipe is two stages: see groupnet-r18-5b_stage1-tanh_8xb32_in1k.py.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=5,
        decomposition='group',
        learn_scales=True,
        soft_gate=False,
        downsample='binary',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=dict(type='ReLU'),
        order=('act', 'norm', 'add'),
        stem='imagenet',
        out_indices=(3, )),
    head=dict(in_channels=512))

optim_wrapper = dict(optimizer=dict(_delete_=True, type='Adam', lr=5e-4, weight_decay=0))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[20, 30], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
