# Group-Net ResNet-18 (width 16) with K=1 base: a single binary network with Group-Net's block
# (binary conv -> ReLU -> BN -> add), conv (ApproxSign, XNOR weights, +1 padding) and binary 1x1
# downsample; no lambda with one base.
_base_ = ['./groupnet-r18-w16-5b_1xb64_digits.py']

model = dict(backbone=dict(num_bases=1))
