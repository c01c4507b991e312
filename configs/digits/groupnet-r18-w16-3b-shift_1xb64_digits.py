# Group-Net ResNet-18 (width 16), K=3, with per-base activation thresholds (see the K=5 file).
_base_ = ['./groupnet-r18-w16-5b-shift_1xb64_digits.py']

model = dict(backbone=dict(num_bases=3))
