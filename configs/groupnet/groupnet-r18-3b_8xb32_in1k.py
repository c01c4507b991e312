# Group-Net ResNet-18 with K=3 binary bases, ImageNet; otherwise as the K=5 config.
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

model = dict(backbone=dict(num_bases=3))
