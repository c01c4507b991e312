# Bi-Real Net-18 (width 16): ApproxSign, XNOR weights, binary conv -> BN -> add (no activation),
# avgpool + real 1x1 downsample.
_base_ = ['./groupnet-r18-w16-1b_1xb64_digits.py']

model = dict(
    backbone=dict(
        downsample='avgpool',
        conv_cfg=dict(_delete_=True, type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=None,
        order=('norm', 'add')))
