# MeliusNet22 at a quarter of its width (growth 16, stem 16, transitions 40 / 56 / 64) with the
# grouped stem at stride 1 and no max-pool (stem='cifar'): ../_base_/models/meliusnet22.py on
# the digits (sign inputs and weights clipped at 1.3, latent weights clipped to [-1.3, 1.3]).
_base_ = ['../_base_/models/meliusnet22.py', './_base_digits.py']

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, num_blocks=(4, 5, 4, 4), transition_channels=(40, 56, 64, None)),
        stem='cifar', growth_rate=16, stem_channels=16),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
