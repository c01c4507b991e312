# Group-Net ResNet-18 (width 16), K=5, per-base activation thresholds (mmbnn.BaseShiftSign), on
# MNIST-5k (see configs/digits/groupnet-r18-w16-5b-shift_1xb64_digits.py).
_base_ = ['./groupnet-r18-w16-5b_1xb64_mnist5k.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='BaseShiftSign'),
                      weight_binarizer=dict(type='XNORWeight'), pad_value=1.0)))
