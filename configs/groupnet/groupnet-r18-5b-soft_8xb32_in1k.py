# Group-Net ResNet-18, K=5, with soft connections between groups: the input of base k of a
# group is sigmoid(g) * (base k's previous output) + (1 - sigmoid(g)) * (the aggregated output),
# with one learned gate g per group starting at torch.rand(1), into every group but the network's
# first (the official code's model.py; ours, one gate per base from 0 and none into stage 1:
# soft_gate='base', soft_gate_stage1=False). ImageNet.
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

model = dict(backbone=dict(soft_gate=True))
