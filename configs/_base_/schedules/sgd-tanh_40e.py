# Group-Net's stage-1 schedule (official code, pretrain.py): the K-base network with tanh in
# place of sign and real weights, SGD lr 0.05 (momentum 0.9, weight decay 1e-4), 40 epochs,
# x0.1 at 20 and 30 (the step shape is our choice; the recipe gives optimizer, lr and epochs).
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[20, 30], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
