# Group-Net ResNet-18 (width 16) with K=5 binary bases per group (group decomposition).
_base_ = ['./groupnet-r18-w16-1b_1xb64_digits.py']

model = dict(backbone=dict(num_bases=5))
