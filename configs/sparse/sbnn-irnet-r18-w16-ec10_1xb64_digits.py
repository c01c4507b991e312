# Sparse IR-Net ResNet-18 (width 16) on scikit-learn's digits, trained as the official SBNN code
# trains (github.com/robustml-eurecom/SBNN, CIFAR-10/main_learn.py): the IR-Net digits model with
# its binary weights in the generalised domain w_b = tau sign(w) + phi (mmbnn.SparseBinaryWeight
# with its defaults: threshold='sign', (tau, phi) starting at (1, 0), latent weights clamped to
# +-1.5 after each step by mmbnn.LatentClampHook, EDE on the weights as on the activations, t
# annealed once per epoch), and one budget for the whole network: mmbnn.SparsityHook adds
# lambda * relu(active/total - EC) to the loss, lambda = gamma * CE / (h (1 - gamma)) without
# gradient, gamma from the official table (0.04 at EC 0.1). The data and schedule (Adam 1e-3,
# cosine, batch 64) are the digits'. Used by tools/analysis/compare_sparsity.py; the EC is the one
# switch it changes.
_base_ = ['../digits/irnet-r18-w16_1xb64_digits.py']

model = dict(
    backbone=dict(
        conv_cfg=dict(weight_binarizer=dict(
            _delete_=True, type='SparseBinaryWeight', ec=0.1, threshold='sign', init='unit',
            clamp=1.5, gradient='ede'))))
custom_hooks = [
    dict(type='mmbnn.EDEHook', by_epoch=True),
    dict(type='mmbnn.LatentClampHook'),  # the binarizer's clamp (1.5) after every step
    dict(type='mmbnn.SparsityHook', budget_loss=dict(type='mmbnn.SparseBudgetLoss', gamma=None)),
]
