# Group-Net ResNet-18 (width 16), K=5, with per-base activation thresholds: every binary conv
# binarizes base k's input at its own learned threshold (mmbnn.BaseShiftSign, starting at -0.5,
# -0.25, 0, 0.25, 0.5), ABC-Net's shifted binarizations, instead of all bases at 0
# (mmbnn.layers.groupnet_conv_cfg(base_shifts=True)). The K=3 file inherits this one.
_base_ = ['./groupnet-r18-w16-5b_1xb64_digits.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='BaseShiftSign'),
                      weight_binarizer=dict(type='XNORWeight'), pad_value=1.0)))
