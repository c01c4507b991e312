# Group-Net ResNet-34 with K=5 binary bases, ImageNet; otherwise as groupnet-r18-5b.
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

model = dict(backbone=dict(depth=34), head=dict(in_channels=512))
