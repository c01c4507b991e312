# QuickNet at a quarter of its width on the digits (../digits/quicknet-w16_1xb64_digits.py) with
# its binary weights trained by Bop (larq's documented example: gamma 1e-3, threshold 1e-6) and
# the real parameters by the digits recipe's Adam (lr 1e-3); the cosine schedule scales both.
_base_ = ['../digits/quicknet-w16_1xb64_digits.py']

optim_wrapper = dict(
    constructor='mmbnn.BinaryOptimWrapperConstructor',
    binary_optimizer=dict(type='mmbnn.Bop', gamma=1e-3, threshold=1e-6))
