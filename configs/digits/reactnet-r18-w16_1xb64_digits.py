# ReActNet-style ResNet-18 (width 16): RSign (learned threshold per channel), XNOR weights,
# binary conv -> BN -> add -> RPReLU, avgpool + real 1x1 downsample. No distillation.
_base_ = ['./groupnet-r18-w16-1b_1xb64_digits.py']

model = dict(
    backbone=dict(
        downsample='avgpool',
        conv_cfg=dict(_delete_=True, type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='RSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=dict(type='mmbnn.RPReLU'),
        order=('norm', 'add', 'act')))
