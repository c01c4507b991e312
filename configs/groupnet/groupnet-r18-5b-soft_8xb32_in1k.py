# Group-Net ResNet-18, K=5, with soft connections between groups: the input of base k of a
# group is sigmoid(g) * (base k's previous output) + (1 - sigmoid(g)) * (the aggregated output),
# with a learned gate g per group (none into the first stage). ImageNet.
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

model = dict(backbone=dict(soft_gate=True))
