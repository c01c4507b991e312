# Group-Net's recipe, stage 2 of 2: binarize (ApproxSign activations, XNOR weights) and fine-tune
# from the stage-1 full-precision model: Adam lr 5e-4, no weight decay, 40 epochs, x0.1 at 20 and
# 30, batch 256. Train stage 1 first with its default work dir:
#   python tools/train.py configs/groupnet/groupnet-r18-5b_stage1-tanh_8xb32_in1k.py
#   python tools/train.py configs/groupnet/groupnet-r18-5b_stage2-binary_8xb32_in1k.py
# (or point load_from elsewhere with --cfg-options load_from=...).
_base_ = ['./groupnet-r18-5b_stage1-tanh_8xb32_in1k.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(_delete_=True, type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight'))))

optim_wrapper = dict(optimizer=dict(_delete_=True, type='Adam', lr=5e-4, weight_decay=0))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[20, 30], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)

load_from = 'work_dirs/groupnet-r18-5b_stage1-tanh_8xb32_in1k/epoch_40.pth'
