# IR-Net ResNet-18 (Qin et al., CVPR 2020), ImageNet: EDE sign on the activations (EDESign),
# Libra-PB weights with the EDE gradient (IRNetWeight(gradient='ede')), both annealed once per
# epoch by mmbnn.EDEHook; Bi-Real's block (binary conv -> BN -> add) and avgpool downsample.
# Schedule: Group-Net's binary stage.
_base_ = ['../groupnet/groupnet-r18-1b_8xb32_in1k.py']

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
        stem='imagenet',
        out_indices=(3, )),
    head=dict(in_channels=512))

custom_hooks = [dict(type='mmbnn.EDEHook', by_epoch=True)]
