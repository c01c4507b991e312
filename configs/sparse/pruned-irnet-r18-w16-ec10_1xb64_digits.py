# The +-1 baseline of the sparse IR-Net digits model: the same network and training with sign
# weights pruned by magnitude (mmbnn.PrunedSignWeight: the 10 % largest |w| of each layer keep
# +-tau, the others are 0), the same EDE gradient and the same EC schedule (mmbnn.SparsityHook).
_base_ = ['./sbnn-irnet-r18-w16-ec10_1xb64_digits.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(weight_binarizer=dict(
            _delete_=True, type='PrunedSignWeight', ec=0.1, gradient='ede'))))
