# XNOR-Net ResNet-18 (width 16): as BNN, with the per-channel scale mean|w| on the weights.
_base_ = ['./groupnet-r18-w16-1b_1xb64_digits.py']

model = dict(
    backbone=dict(
        downsample='real',
        conv_cfg=dict(_delete_=True, type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='STESign'),
                      weight_binarizer=dict(type='XNORWeight'))))
