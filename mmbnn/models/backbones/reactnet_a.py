"""ReActNet-A (Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Network with
Generalized Activation Functions", ECCV 2020), as its official code builds it
(``liuzechun/ReActNet``, ``mobilenet/2_step2/reactnet.py``)."""
from typing import Sequence, Union

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from mmbnn.registry import MODELS, build_with_channels
from ..utils.binary_unit import unit_post
from .binary_densenet import check_arch
from .staged_backbone import DEFAULT_INIT_CFG, StagedBackbone

__all__ = ['ReActNetA', 'ReActBlock', 'REACTNET_CONV', 'REACTNET_STEP1_CONV']

#: ReActNet's binary conv (official code): RSign (a learned threshold per input channel, with
#: Bi-Real's ApproxSign gradient) and the weights as sign times a detached mean |w| per output
#: channel with the clipped straight-through gradient (:class:`~mmbnn.binarizers.BiRealWeight`);
#: zero padding. ``weight_binarizer=dict(type='XNORWeight')`` gives the scale its exact gradient
#: instead (same forward values).
REACTNET_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='RSign'),
                     weight_binarizer=dict(type='BiRealWeight'))

#: ReActNet's step 1 (binary activations, real weights).
REACTNET_STEP1_CONV = dict(REACTNET_CONV, weight_binarizer=None)


class ReActBlock(nn.Module):
    """ReActNet-A's block: two binary units, each ``RPReLU(BN(binconv(RSign(x))) + shortcut)``.

    ``y1 = RPReLU(BN(conv3x3/s(x)) + pool(x))`` (``pool``: avg-pool 2x2/2 when ``stride`` is 2,
    rounding up on odd sizes as the conv does, else the identity), ``y = RPReLU(BN(conv1x1(y1)) + y1)``. Where the channels double
    (``out_channels = 2 in_channels``), the official code runs two 1x1 convs
    (``binary_pw_down1``, ``binary_pw_down2``), each with its own BN and the same shortcut
    ``y1``, and concatenates them; here they are the two halves of the output channels of one
    1x1 conv and one BN, and ``y1`` is added to both halves (the same values: every output
    channel has its own weights, scale and BN).

    Args:
        in_channels (int): Input channels. out_channels (int): ``in_channels`` or twice it.
        stride (int): Stride of the 3x3 conv (1 or 2).
        conv_cfg (dict): The binary convs. norm_cfg (dict): The BNs.
        act_cfg (dict): The activation after each shortcut. Default: RPReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, conv_cfg: dict,
                 norm_cfg: dict, act_cfg: dict = dict(type='mmbnn.RPReLU')):
        super().__init__()
        if out_channels not in (in_channels, 2 * in_channels):
            raise ValueError(f'a ReActNet block keeps or doubles its channels, got '
                             f'{in_channels} -> {out_channels}')
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, got {stride!r}')
        self.conv1 = build_conv_layer(conv_cfg, in_channels, in_channels, 3, stride=stride,
                                      padding=1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.act1 = build_with_channels(act_cfg, in_channels)
        # the official AvgPool2d(2, 2); ceil_mode for odd sizes (the same on even ones), so the
        # shortcut keeps the 3x3/2 conv's size
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) \
            if stride == 2 else nn.Identity()
        self.conv2 = build_conv_layer(conv_cfg, in_channels, out_channels, 1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, out_channels)[1]
        self.act2 = build_with_channels(act_cfg, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        order = ('norm', 'add', 'act')
        out = unit_post(self.conv1(x), order, self.act1, self.bn1, self.pool(x))
        return unit_post(self.conv2(out), order, self.act2, self.bn2, out)


@MODELS.register_module()
class ReActNetA(StagedBackbone):
    """ReActNet-A: MobileNetV1's layout with every depthwise-separable pair replaced by a
    :class:`ReActBlock` (a full 3x3 binary conv and a 1x1 binary conv, each with its real-valued
    shortcut, RSign before and RPReLU after).

    - Stem (full precision): ``conv3x3/2 -> BN`` (no activation: the first RSign sees signed
      values).
    - 13 blocks of output channels / strides (``'A'``): 64/1, 128/2, 128, 256/2, 256, 512/2,
      512 x 5, 1024/2, 1024. A stage is a run of blocks that begins where the channels change
      (5 stages: 64 | 128 x 2 | 256 x 2 | 512 x 6 | 1024 x 2); ``out_indices`` count those.
    - The classifier (global average pooling, a real FC 1024 -> 1000) is the neck's and head's.

    At 224 x 224 the summary gives the paper's table (Table 2 of the paper; 4.82e9 BOPs, 0.12e8
    FLOPs, 0.87e8 OPs) within 2% (``tests/test_arch_reactnet_a.py``).

    Args:
        arch (str | dict): ``'A'`` or a dict with ``stem_channels`` (int) and ``blocks`` (a
            sequence of ``(out_channels, stride)``). Default: ``'A'``.
        in_channels (int): Image channels. Default: 3.
        stem_stride (int): Stride of the stem conv (1 for tiny images). Default: 2.
        conv_cfg (dict): The binary convs. Default: :data:`REACTNET_CONV` (the official code's
            second step; :data:`REACTNET_STEP1_CONV`, real weights, is its first step).
        norm_cfg (dict): BN layers. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation after each shortcut. Default: ``dict(type='mmbnn.RPReLU')``.
        out_indices (Sequence[int]): Stages to output (negative: from the end). Default: (-1, ).
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem). Default: -1.
        norm_eval (bool): Keep BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): Default: Kaiming convs, BN weights 1.
    """
    arch_settings = {
        'A': dict(stem_channels=32,
                  blocks=((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                          (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'A',
                 in_channels: int = 3,
                 stem_stride: int = 2,
                 conv_cfg: dict = REACTNET_CONV,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='mmbnn.RPReLU'),
                 out_indices: Sequence[int] = (-1, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=DEFAULT_INIT_CFG):
        arch = check_arch(type(self).__name__, arch, self.arch_settings,
                          ('stem_channels', 'blocks'))
        blocks = arch['blocks']
        if not blocks or any(not isinstance(b, (tuple, list)) or len(b) != 2 for b in blocks):
            raise ValueError(f'arch blocks must be (out_channels, stride) pairs, got '
                             f'{blocks!r}')
        blocks = [tuple(b) for b in blocks]
        stages, in_ch = [], arch['stem_channels']
        for out_ch, stride in blocks:
            if not stages or out_ch != in_ch:
                stages.append([])
            stages[-1].append((in_ch, out_ch, stride))
            in_ch = out_ch
        super().__init__(len(stages), out_indices, frozen_stages, norm_eval, init_cfg)
        self.arch = arch
        c0 = arch['stem_channels']
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c0, 3, stride=stem_stride, padding=1, bias=False),
            build_norm_layer(norm_cfg, c0)[1])
        self.stages = nn.ModuleList(
            nn.Sequential(*(ReActBlock(i, o, s, conv_cfg, norm_cfg, act_cfg) for i, o, s in stage))
            for stage in stages)
        self.feat_dim = in_ch
