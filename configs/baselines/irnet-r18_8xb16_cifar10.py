# IR-Net ResNet-18 on CIFAR-10: as irnet-r18_8xb32_in1k, CIFAR stem; the CIFAR schedule of
# groupnet-r18-1b_8xb16_cifar10 (Adam lr 1e-3, cosine, 200 epochs).
_base_ = ['../groupnet/groupnet-r18-1b_8xb16_cifar10.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=1,
        downsample='avgpool',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='EDESign'),
                      weight_binarizer=dict(type='IRNetWeight', gradient='ede')),
        act_cfg=None,
        order=('norm', 'add'),
        stem='cifar',
        out_indices=(3, )),
    head=dict(in_channels=512))

custom_hooks = [dict(type='mmbnn.EDEHook', by_epoch=True)]
