# ReActNet-style ResNet-18 (Liu et al., ECCV 2020), ImageNet: RSign (sign with a learned
# threshold per channel), XNOR weights, binary conv -> BN -> add -> RPReLU, avgpool + real 1x1
# downsample. Without ReActNet's distillation from a real teacher; Group-Net's binary schedule.
_base_ = ['../groupnet/groupnet-r18-1b_8xb32_in1k.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbnn.GroupNetResNet',
        depth=18,
        num_bases=1,
        downsample='avgpool',
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='RSign'),
                      weight_binarizer=dict(type='XNORWeight')),
        act_cfg=dict(type='mmbnn.RPReLU'),
        order=('norm', 'add', 'act'),
        stem='imagenet',
        out_indices=(3, )),
    head=dict(in_channels=512))
