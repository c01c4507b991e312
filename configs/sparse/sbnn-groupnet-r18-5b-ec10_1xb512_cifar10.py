# Sparse Group-Net ResNet-18 on CIFAR-10: K=5 binary bases per group (group decomposition,
# learned lambda), Group-Net's block (binary conv -> ReLU -> BN -> add, ApproxSign activations,
# binary 1x1 downsample), its weights in the generalised binary domain {phi - tau, phi + tau}
# within a network-wide budget of 10 % active (mmbnn.SparseBinaryWeight with the official code's
# defaults: sign threshold, (tau, phi) from (1, 0), clamp 1.5, EDE gradient; the K bases of a
# layer, one grouped conv, share tau and phi). Data, schedule and hooks (EDE, clamp, the budget
# penalty) of the sparse IR-Net CIFAR-10 file.
# Not trained in this repository.
_base_ = ['./sbnn-irnet-r18-ec10_1xb512_cifar10.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=5,
        decomposition='group',
        downsample='binary',
        # Group-Net's conv (mmbnn.layers.GROUPNET_CONV: ApproxSign, +1 padding) with sparse weights
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1), pad_value=1.0),
        act_cfg=dict(type='ReLU'),
        order=('act', 'norm', 'add'),
        stem='cifar',
        stem_channels=64,
        base_channels=64))

# custom_hooks of the base: EDEHook (the weights' EDE gradient), LatentClampHook, SparsityHook
