# Group-Net's recipe, stage 1 of 2 (official code, pretrain.py): the same K=5 ResNet-18 with tanh
# in place of sign on the activations (mmbnn.FPProxy) and real weights (the same +1 padding), so
# that its bases are trained, different networks; SGD lr 0.05 (momentum 0.9, weight decay 1e-4),
# 40 epochs, x0.1 at 20 and 30. Its last checkpoint starts stage 2:
# groupnet-r18-5b_stage2-binary_8xb32_in1k.py.
_base_ = [
    '../_base_/models/groupnet-r18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/sgd-tanh_40e.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='FPProxy', kind='tanh'),
                      weight_binarizer=None, pad_value=1.0)))
