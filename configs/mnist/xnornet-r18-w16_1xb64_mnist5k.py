# XNOR-Net ResNet-18 (width 16) on MNIST-5k: as BNN, with the per-channel scale mean|w| on the
# weights.
_base_ = ['./bnn-r18-w16_1xb64_mnist5k.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='XNORWeight'))))
custom_hooks = []  # XNORWeight's latent weights are not clipped (no LatentClampHook)
