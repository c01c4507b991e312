# Group-Net ResNet-18 (width 16), K=3, per-base activation thresholds (mmbnn.BaseShiftSign), on
# MNIST-5k (see the K=5 file).
_base_ = ['./groupnet-r18-w16-5b-shift_1xb64_mnist5k.py']

model = dict(backbone=dict(num_bases=3))
