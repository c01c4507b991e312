# Real-to-Binary Net (width 16, CIFAR stem: 3x3/1 conv -> BN -> PReLU, no max-pool): the network
# of ../_base_/models/real-to-binary.py on the digits (the final binary network: sign inputs and
# weights, data-dependent scales, PReLU, latent weights clipped to [-1, 1]); trained alone,
# without the paper's multi-stage distillation.
_base_ = ['../_base_/models/real-to-binary.py', './_base_digits.py']

model = dict(
    backbone=dict(stem='cifar', stem_channels=16),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
