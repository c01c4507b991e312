# Group-Net ResNet-34, K=5, with soft connections between groups, ImageNet.
_base_ = ['./groupnet-r34-5b_8xb32_in1k.py']

model = dict(backbone=dict(soft_gate=True))
