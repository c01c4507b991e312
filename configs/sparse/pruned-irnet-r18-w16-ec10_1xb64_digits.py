# The +-1 baseline of the sparse IR-Net digits model: the same network, data and schedule with
# sign weights pruned by magnitude, per layer (mmbnn.PrunedSignWeight: the 10 % largest |w| of each
# layer keep +-tau, tau fitted then learned, the others are 0, the gradient reaches every weight),
# the same EDE gradient and schedule; no budget penalty (EC is met per layer) and no clamp.
_base_ = ['./sbnn-irnet-r18-w16-ec10_1xb64_digits.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(weight_binarizer=dict(
            _delete_=True, type='PrunedSignWeight', ec=0.1, gradient='ede'))))
custom_hooks = [
    dict(type='mmbnn.EDEHook', by_epoch=True),
    dict(type='mmbnn.SparsityHook', budget_loss=None),
]
