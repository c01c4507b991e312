# BNN ResNet-18 (width 16, CIFAR stem): ../_base_/models/bnn-r18.py on MNIST-5k (sign activations
# with the clipped STE, sign weights without a scale, latent weights clipped to [-1, 1] by
# mmbnn.LatentClampHook; binary conv -> ReLU -> BN -> add, real 1x1 downsample). The XNOR-Net
# file inherits this one.
_base_ = ['../_base_/models/bnn-r18.py', './_base_mnist.py']

model = dict(
    backbone=dict(stem='cifar', stem_channels=16, base_channels=16),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
