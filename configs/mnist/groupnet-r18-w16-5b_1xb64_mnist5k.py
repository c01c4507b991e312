# Group-Net ResNet-18 (width 16, CIFAR stem), K=5: ../_base_/models/groupnet-r18.py on MNIST-5k.
# The K=1 and K=3 files inherit this one.
_base_ = ['../_base_/models/groupnet-r18.py', './_base_mnist.py']

model = dict(
    # per-base downsamples, as the digits models (../digits/groupnet-r18-w16-5b_1xb64_digits.py)
    backbone=dict(num_bases=5, stem='cifar', stem_channels=16, base_channels=16,
                  shared_downsample=False),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
