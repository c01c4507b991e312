# Group-Net ResNet-18 (width 16) with K=3 binary bases per group.
_base_ = ['./groupnet-r18-w16-5b_1xb64_digits.py']

model = dict(backbone=dict(num_bases=3))
