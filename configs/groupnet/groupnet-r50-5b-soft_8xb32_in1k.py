# Group-Net ResNet-50, K=5, with soft connections between groups, ImageNet.
_base_ = ['./groupnet-r50-5b_8xb32_in1k.py']

model = dict(backbone=dict(soft_gate=True))
