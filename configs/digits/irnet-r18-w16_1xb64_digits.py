# IR-Net ResNet-18 (width 16): EDE sign on activations, Libra-PB weights (IRNetWeight) with the
# EDE gradient, annealed by mmbnn.EDEHook; binary conv -> BN -> add, avgpool + real downsample.
_base_ = ['./groupnet-r18-w16-1b_1xb64_digits.py']

model = dict(
    backbone=dict(
        downsample='avgpool',
        conv_cfg=dict(_delete_=True, type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='EDESign'),
                      weight_binarizer=dict(type='IRNetWeight', gradient='ede')),
        act_cfg=None,
        order=('norm', 'add')))
custom_hooks = [dict(type='mmbnn.EDEHook')]
