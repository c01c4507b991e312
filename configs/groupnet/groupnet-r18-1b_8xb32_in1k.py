# Group-Net ResNet-18 with K=1 binary base, ImageNet: a single
# binary ResNet (soft connections need K > 1). Otherwise as the K=5 config.
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

model = dict(backbone=dict(num_bases=1))
