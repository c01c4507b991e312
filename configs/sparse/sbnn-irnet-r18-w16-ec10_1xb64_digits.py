# Sparse IR-Net ResNet-18 (width 16) on scikit-learn's digits: the IR-Net digits model with its
# weights in the generalised binary domain {phi - tau, phi + tau} (mmbnn.SparseBinaryWeight), 10 %
# of them active (EC = 0.1, per layer, from the first iteration), EDE gradient as the official
# SBNN code; mmbnn.SparsityHook logs the active fraction. Used by
# tools/analysis/compare_sparsity.py.
_base_ = ['../digits/irnet-r18-w16_1xb64_digits.py']

custom_imports = dict(imports=['mmbnn.binarizers.sparse', 'mmbnn.engine.sparsity_hook'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        conv_cfg=dict(weight_binarizer=dict(
            _delete_=True, type='SparseBinaryWeight', ec=0.1, gradient='ede'))))
custom_hooks = [dict(type='mmbnn.EDEHook'), dict(type='mmbnn.SparsityHook')]
