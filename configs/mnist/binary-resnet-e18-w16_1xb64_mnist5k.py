# BinaryResNetE18 at a quarter of its width (16 / 32 / 64 / 128 channels) on MNIST-5k:
# ../_base_/models/binary-resnet-e18.py with larq-zoo's stem for small images (a lone conv3x3).
_base_ = ['../_base_/models/binary-resnet-e18.py', './_base_mnist.py']

model = dict(
    backbone=dict(base_channels=16, stem='cifar'),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
