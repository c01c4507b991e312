# Group-Net ResNet-18 with K=1 binary base, CIFAR-10: a single
# binary ResNet (soft connections need K > 1). Otherwise as the K=5 config.
_base_ = ['./groupnet-r18-5b_8xb16_cifar10.py']

model = dict(backbone=dict(num_bases=1))
