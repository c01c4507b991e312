# The network of stage 2 of Real-to-Binary's recipe (larq-zoo's r2b_ban): binary activations
# (sign, straight-through gradient clipped at 1), real weights; stage 1's schedule (Adam lr 1e-3,
# warm-up, x0.3 at 40/60/70, 75 epochs, L2 1e-5). The recipe trains it against stage 1's network
# with kd-at_r2b-ban_8xb32_in1k.py.
_base_ = ['./r2b-fp_8xb32_in1k.py']
model = dict(
    backbone=dict(conv_cfg=dict(act_binarizer=dict(_delete_=True, type='STESign'))))
