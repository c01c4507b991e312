# Group-Net ResNet-18 with K=3 binary bases, CIFAR-10; otherwise as the K=5 config.
_base_ = ['./groupnet-r18-5b_8xb16_cifar10.py']

model = dict(backbone=dict(num_bases=3))
