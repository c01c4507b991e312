# XNOR-Net ResNet-18 (Rastegari et al., ECCV 2016), ImageNet: as bnn-r18, with one scale per
# output channel on the weights, mean|w_c| (XNORWeight). No activation scale (the following BN
# absorbs it).
_base_ = ['./bnn-r18_8xb32_in1k.py']

model = dict(
    backbone=dict(conv_cfg=dict(weight_binarizer=dict(_delete_=True, type='XNORWeight'))))
custom_hooks = []  # XNORWeight's latent weights are not clipped (no LatentClampHook)
