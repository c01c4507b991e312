# ReActNet-style ResNet-18 (Liu et al., ECCV 2020): the Bi-Real network with RSign (sign with a
# learned threshold per channel) and RPReLU after the shortcut: binary conv -> BN -> add ->
# RPReLU, XNOR weights, avgpool + real 1x1 downsample. Without ReActNet's distillation.
_base_ = ['./birealnet-r18.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(act_binarizer=dict(_delete_=True, type='RSign')),
        act_cfg=dict(_delete_=True, type='mmbnn.RPReLU'),  # None in the base: replace
        order=('norm', 'add', 'act')))
