"""BinaryResNetE (Bethge, Yang, Bornstein, Meinel, "Back to Simplicity: How to Train Accurate BNNs
from Scratch?", arXiv 1906.08637, 2019), as larq-zoo builds it
(``larq_zoo/literature/resnet_e.py``)."""
from typing import Sequence

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from mmbnn.registry import MODELS
from ..utils.binary_unit import unit_post
from .groupnet_resnet import PooledConv2d
from .staged_backbone import DEFAULT_INIT_CFG, StagedBackbone

__all__ = ['BinaryResNetE', 'ResNetEBlock', 'RESNET_E_CONV']

#: BinaryResNetE's binary conv (larq-zoo): sign inputs and sign weights with the straight-through
#: gradient clipped at 1.25 (``SteSign(clip_value=1.25)``), no scale, zero padding; larq clips the
#: latent weights to [-1.25, 1.25] (``custom_hooks=[dict(type='mmbnn.LatentClampHook')]``).
RESNET_E_CONV = dict(type='mmbnn.BinaryConv2d',
                     act_binarizer=dict(type='STESign', clip_value=1.25),
                     weight_binarizer=dict(type='SignWeight', clip_value=1.25))


class ResNetEBlock(nn.Module):
    """``BN(binconv3x3/s(x)) + shortcut(x)``: one binary conv per shortcut (larq-zoo's
    ``residual_block``). Where the channels change the shortcut is ``avg-pool 2x2/2 -> real
    1x1 conv -> BN`` (:class:`~mmbnn.models.backbones.PooledConv2d`), else the identity.

    Args:
        in_channels (int), out_channels (int), stride (int), conv_cfg (dict), norm_cfg (dict).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, conv_cfg: dict,
                 norm_cfg: dict):
        super().__init__()
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, 3, stride=stride,
                                     padding=1, bias=False)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = nn.Sequential(PooledConv2d(in_channels, out_channels, 2),
                                            build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return unit_post(self.conv(x), ('norm', 'add'), None, self.bn, shortcut)


@MODELS.register_module()
class BinaryResNetE(StagedBackbone):
    """BinaryResNetE: a ResNet whose every basic block is split into two single-conv blocks,
    each with its own shortcut (2 x blocks per stage), as larq-zoo builds BinaryResNetE18.

    - Stem ``'imagenet'`` (full precision): ``conv7x7/2 -> BN -> ReLU -> max-pool 3x3/2 -> BN``;
      ``'cifar'``: a lone ``conv3x3`` (larq's choice for inputs under 50 pixels).
    - Stage i: ``2 * blocks[i]`` :class:`ResNetEBlock` of ``base_channels * 2^i`` channels,
      the first of stages 2-4 with stride 2.
    - The last stage ends with a ReLU (larq-zoo applies it before the global pooling).

    With mmpretrain's ``GlobalAveragePooling`` and ``LinearClsHead`` (real dense with bias) at
    224 x 224: larq-zoo's 11,699,368 parameters and 4.03 MB counting every BN variable
    (``convention='keras'`` of :func:`mmbnn.analysis.larq_counts`; 4.00 MB on larq's docs page,
    ``convention='larq'``), 1.81 G MACs, 92.4% binary (``tests/test_arch_larq_literature.py``).

    Args:
        depth (int): 18 or 34. Default: 18.
        base_channels (int): Channels of stage 1. Default: 64.
        in_channels (int): Image channels. Default: 3.
        stem (str): ``'imagenet'`` or ``'cifar'``. Default: ``'imagenet'``.
        conv_cfg (dict): The binary convs. Default: :data:`RESNET_E_CONV`.
        norm_cfg (dict): BN layers. Default: ``dict(type='BN')`` (larq's momentum 0.9, eps 1e-5).
        out_indices (Sequence[int]): Stages to output (negative: from the end). Default: (-1, ).
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem). Default: -1.
        norm_eval (bool): Keep BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): Default: Kaiming convs, BN weights 1.
    """
    #: depth -> blocks per stage (larq-zoo's spec; its 50/101/152 entries reuse the same
    #: single-conv block with a shortcut that always pools, which does not fit stage 1's stride 1,
    #: so they are left out).
    arch_settings = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}

    def __init__(self,
                 depth: int = 18,
                 base_channels: int = 64,
                 in_channels: int = 3,
                 stem: str = 'imagenet',
                 conv_cfg: dict = RESNET_E_CONV,
                 norm_cfg: dict = dict(type='BN'),
                 out_indices: Sequence[int] = (-1, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=DEFAULT_INIT_CFG):
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth!r} for BinaryResNetE: choose from '
                           f'{sorted(self.arch_settings)}')
        if stem not in ('imagenet', 'cifar'):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        stage_blocks = self.arch_settings[depth]
        super().__init__(len(stage_blocks), out_indices, frozen_stages, norm_eval, init_cfg)
        self.depth = depth
        if stem == 'cifar':
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, base_channels, 3, padding=1, bias=False))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, base_channels, 7, stride=2, padding=3, bias=False),
                build_norm_layer(norm_cfg, base_channels)[1], nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
                build_norm_layer(norm_cfg, base_channels)[1])
        self.stages = nn.ModuleList()
        in_ch = base_channels
        for i, n in enumerate(stage_blocks):
            out_ch = base_channels * 2**i
            blocks = [ResNetEBlock(in_ch if j == 0 else out_ch, out_ch,
                                   2 if i > 0 and j == 0 else 1, conv_cfg, norm_cfg)
                      for j in range(2 * n)]
            if i == len(stage_blocks) - 1:
                blocks.append(nn.ReLU(inplace=True))
            self.stages.append(nn.Sequential(*blocks))
            in_ch = out_ch
        self.feat_dim = in_ch
