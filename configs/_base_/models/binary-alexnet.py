# BinaryAlexNet (Hubara et al., NeurIPS 2016) as larq-zoo builds it (mmbnn.BinaryAlexNet,
# larq_zoo/literature/binary_alex_net.py): five binary conv blocks (conv -> [max-pool 3x3/2] ->
# BN without gamma; the first with real inputs and sign weights) and a binary classifier
# (BinaryLinear -> BN1d without gamma, 9216 -> 4096 -> 4096 -> 1000) whose output is the logits:
# sign inputs and sign weights with the STE clipped at 1, no scale, zero padding. The backbone
# holds the classifier (as mmpretrain's AlexNet), so the head is the plain ClsHead.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmbnn.BinaryAlexNet',
        arch='imagenet',
        num_classes=1000,
        input_size=224,
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
                      weight_binarizer=dict(type='SignWeight'))),
    head=dict(type='ClsHead', loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
# larq's weight_clip (1.0).
custom_hooks = [dict(type='mmbnn.LatentClampHook')]
