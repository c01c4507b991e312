# BinaryDenseNet37 at a quarter of its width (growth 16, stem 16, transition widths rounded to
# multiples of 8) with larq's small-image stem (one 3x3 conv): ../_base_/models/binary-densenet.py
# on MNIST-5k (sign inputs and weights clipped at 1.3, latent weights clipped to [-1.3, 1.3]).
_base_ = ['../_base_/models/binary-densenet.py', './_base_mnist.py']

model = dict(
    backbone=dict(arch='37', stem='cifar', growth_rate=16, stem_channels=16, channel_divisor=8),
    head=dict(num_classes=10, in_channels=160, topk=(1, )))
