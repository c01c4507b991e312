# Group-Net's binary schedule (official code, stage 2): Adam lr 5e-4, no weight decay, 40 epochs,
# x0.1 at 20 and 30 (batch 256 in the paper: 8 GPUs x 32).
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4, weight_decay=0))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[20, 30], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
