# Bi-Real Net-18 (Liu et al., ECCV 2018), ImageNet: ApproxSign activations, XNOR weights,
# binary conv -> BN -> add a real shortcut (no activation), avgpool + real 1x1 downsample.
# Schedule: Group-Net's binary stage, not Bi-Real's own (which starts from a real tanh model).
_base_ = ['../groupnet/groupnet-r18-1b_8xb32_in1k.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=1,
        downsample='avgpool',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=None,
        order=('norm', 'add'),
        stem='imagenet',
        out_indices=(3, )),
    head=dict(in_channels=512))
