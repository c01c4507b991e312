# BNN ResNet-18 (width 16): sign activations with the clipped STE, sign weights without a scale;
# XNOR-Net's block order (binary conv -> ReLU -> BN -> add) and a real 1x1 downsample.
_base_ = ['./groupnet-r18-w16-1b_1xb64_digits.py']

model = dict(
    backbone=dict(
        downsample='real',
        conv_cfg=dict(_delete_=True, type='mmbnn.BinaryConv2d',
                      act_binarizer=dict(type='STESign'),
                      weight_binarizer=dict(type='SignWeight'))))
