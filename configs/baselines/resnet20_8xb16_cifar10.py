# Full-precision ResNet-20 reference on CIFAR-10 (mmpretrain has none): irnet-r20's network with
# both binarizers off (real inputs and weights in every conv), ReLU after each BN and shortcut.
_base_ = ['./irnet-r20_8xb16_cifar10.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(_delete_=True, type='mmbnn.BinaryConv2d', act_binarizer=None,
                      weight_binarizer=None),
        act_cfg=dict(_delete_=True, type='ReLU'),  # None in the base: replace, not merge
        order=('norm', 'add', 'act')))
custom_hooks = []

# mmpretrain's CIFAR-10 schedule for full-precision ResNets: SGD lr 0.1, x0.1 at 100 and 150.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(_delete_=True, type='MultiStepLR', by_epoch=True, milestones=[100, 150],
                       gamma=0.1)
