# QuickNetSmall at a quarter of its width (stages of 8 / 16 / 64 / 128 channels, 4 blocks each) on
# MNIST-5k: ../_base_/models/quicknet.py with a stride-1 stem (the digits model, on 28x28
# images).
_base_ = ['../_base_/models/quicknet.py', './_base_mnist.py']

model = dict(
    backbone=dict(arch=dict(_delete_=True, blocks=(4, 4, 4, 4), channels=(8, 16, 64, 128)),
                  stem_strides=(1, 1)),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
