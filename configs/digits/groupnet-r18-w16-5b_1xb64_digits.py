# Group-Net ResNet-18 (width 16, CIFAR stem) with K=5 binary bases per group: the model of
# ../_base_/models/groupnet-r18.py (Group-Net's block and conv, +1 padding, binary 1x1
# downsample; stem conv -> BN without ReLU) on the digits (./_base_digits.py). The K=1 and K=3
# files inherit this one.
# One departure from the official code's default: K per-base downsamples
# (shared_downsample=False), the architecture the published zoo models of these configs were
# trained with (mmbnn://groupnet-r18-w16-5b_1xb64_digits and the K=3 / -shift ones); the
# official one, shared by the K bases, is model.backbone.shared_downsample=True (README.md here:
# both measured).
_base_ = ['../_base_/models/groupnet-r18.py', './_base_digits.py']

model = dict(
    backbone=dict(num_bases=5, stem='cifar', stem_channels=16, base_channels=16,
                  shared_downsample=False),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
