# BinaryAlexNet trained with Bop (Helwegen et al., NeurIPS 2019) for its binary weights and Adam
# for the real parameters (BN, the real-input first block's BN...), as larq's CaseOptimizer
# does: mmbnn.BinaryOptimWrapperConstructor. Bop's gamma and threshold are larq's defaults
# (1e-4, 1e-8); the one step schedule (x0.5 every 10 epochs) scales both Adam's lr and Bop's
# gamma. Otherwise ../binary_alexnet/binary-alexnet_8xb64_in1k.py.
_base_ = ['../binary_alexnet/binary-alexnet_8xb64_in1k.py']

optim_wrapper = dict(
    constructor='mmbnn.BinaryOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=1e-2, weight_decay=0),
    binary_optimizer=dict(type='mmbnn.Bop', gamma=1e-4, threshold=1e-8))
