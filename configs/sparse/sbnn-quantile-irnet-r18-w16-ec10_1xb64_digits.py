# The per-layer mode of the generalised domain (mmbnn's, not the official code's): every binary
# layer exactly at EC from the first iteration (threshold='quantile': the round(EC n) largest
# weights active), tau and phi fitted by least squares at the first forward pass (init='fit'), no
# clamp and no budget penalty (mmbnn.SparsityHook only logs the active fraction). Else as
# sbnn-irnet-r18-w16-ec10_1xb64_digits.py.
_base_ = ['./sbnn-irnet-r18-w16-ec10_1xb64_digits.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(weight_binarizer=dict(threshold='quantile', init='fit', clamp=None))))
custom_hooks = [
    dict(type='mmbnn.EDEHook', by_epoch=True),
    dict(type='mmbnn.SparsityHook', budget_loss=None),
]
