# Group-Net ResNet-18, K=5, with soft connections between groups, CIFAR-10.
_base_ = ['./groupnet-r18-5b_8xb16_cifar10.py']

model = dict(backbone=dict(soft_gate=True))
