# Group-Net's recipe, stage 1 of 2: the same K=5 ResNet-18 in full precision, tanh in place of
# sign on the activations (mmbnn.FPProxy) and real weights, trained with SGD lr 0.05
# (momentum 0.9, weight decay 1e-4), 40 epochs, x0.1 at 20 and 30 (the step shape is our choice;
# the recipe gives the optimizer, lr and epochs). Its last checkpoint starts stage 2:
# groupnet-r18-5b_stage2-binary_8xb32_in1k.py.
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(_delete_=True, type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='FPProxy', kind='tanh'),
                      weight_binarizer=None)))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[20, 30], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
