# IR-Net ResNet-18 (Qin et al., CVPR 2020): the Bi-Real network with EDE sign activations
# (EDESign) and Libra-PB weights with the EDE gradient (IRNetWeight(gradient='ede')), both annealed
# once per epoch by mmbnn.EDEHook.
_base_ = ['./birealnet-r18.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(act_binarizer=dict(_delete_=True, type='EDESign'),
                      weight_binarizer=dict(_delete_=True, type='IRNetWeight', gradient='ede'))))
custom_hooks = [dict(type='mmbnn.EDEHook', by_epoch=True)]
