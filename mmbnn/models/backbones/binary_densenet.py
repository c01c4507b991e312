"""BinaryDenseNet (Bethge, Yang, Bornstein, Meinel, "Back to Simplicity: How to Train Accurate
BNNs from Scratch?", arXiv 1906.08637, 2019), as larq-zoo builds it
(``larq_zoo/literature/densenet.py``), and the dense-network parts MeliusNet shares."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from mmbnn.registry import MODELS
# check_arch lives in staged_backbone; imported from here by the other larq-zoo backbones too
from .staged_backbone import (DEFAULT_INIT_CFG, StagedBackbone, check_arch,
                              check_positive_ints)

__all__ = ['BinaryDenseNet', 'DenseLayer', 'DenseTransition', 'BETHGE_CONV', 'check_arch']

#: The binary conv of BinaryDenseNet and MeliusNet (larq-zoo): sign inputs and sign weights with
#: the straight-through gradient clipped at 1.3 (larq's ``SteSign(clip_value=1.3)``), no scale,
#: zero padding. larq also clips the latent weights to [-1.3, 1.3] (``WeightClip(1.3)``):
#: ``custom_hooks=[dict(type='mmbnn.LatentClampHook')]`` reads the bound from the binarizer.
BETHGE_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign', clip_value=1.3),
                   weight_binarizer=dict(type='SignWeight', clip_value=1.3))


class DenseLayer(nn.Module):
    """``concat(x, conv(BN(x)))``: a binary 3x3 conv adding ``growth_rate`` channels (larq's
    ``densely_connected_block``; MeliusNet's dense block). Padding = dilation ("same")."""

    def __init__(self, in_channels: int, growth_rate: int, conv_cfg: dict, norm_cfg: dict,
                 dilation: int = 1):
        super().__init__()
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv = build_conv_layer(conv_cfg, in_channels, growth_rate, 3, padding=dilation,
                                     dilation=dilation, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(self.norm(x))], dim=1)


class DenseTransition(nn.Sequential):
    """``BN -> [max-pool 2x2/2] -> ReLU -> real 1x1 conv`` between dense stages (BinaryDenseNet's
    and MeliusNet's order: pooling before the ReLU and the conv, so the conv runs at the lower
    resolution), or ``BN -> ReLU`` after the last stage (``out_channels=None``).

    Args:
        in_channels (int), out_channels (int | None), norm_cfg (dict).
        pool (str | None): ``'floor'`` (Keras' "valid" max-pool), ``'ceil'`` (Keras' "same") or
            None (no pooling: the next stage is dilated instead).
    """

    def __init__(self, in_channels: int, out_channels: Optional[int], norm_cfg: dict,
                 pool: Optional[str] = 'floor'):
        layers = [build_norm_layer(norm_cfg, in_channels)[1]]
        if out_channels is not None and pool is not None:
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=pool == 'ceil'))
        layers.append(nn.ReLU(inplace=True))
        if out_channels is not None:
            layers.append(nn.Conv2d(in_channels, out_channels, 1, bias=False))
        super().__init__(*layers)
        self.out_channels = in_channels if out_channels is None else out_channels


@MODELS.register_module()
class BinaryDenseNet(StagedBackbone):
    """BinaryDenseNet: dense stages of binary 3x3 convs, real transitions.

    Layout (larq-zoo): stem ``conv7x7/2 -> BN -> ReLU -> max-pool 3x3/2`` (``stem='imagenet'``)
    or a lone ``conv3x3`` (``stem='cifar'``: larq's choice for inputs under 50 pixels); stage i
    stacks ``layers[i]`` :class:`DenseLayer` (each adds ``growth_rate`` channels by a binary
    conv of dilation ``dilation[i]``) and ends with a :class:`DenseTransition` to
    ``round(C // reduction[i] / 32) * 32`` channels (Python's ``round``, as larq), without
    pooling where the next stage is dilated; the last stage ends with ``BN -> ReLU``. The
    classifier (global pooling + dense) is the neck's and head's. At 224 x 224 with the 1000-class
    head, counting BN's four vectors (larq's convention): 5,150,504 / 8,734,120 / 8,734,120 /
    13,939,240 parameters for 28 / 37 / 37-dilated / 45 (``tests/test_arch_binary_densenet.py``).

    Args:
        arch (str | dict): ``'28'``, ``'37'``, ``'37-dilated'``, ``'45'`` or a dict with keys
            ``layers``, ``reduction`` (one per transition) and ``dilation`` (one per stage).
            Default: ``'28'``.
        growth_rate (int): Channels each dense layer adds. Default: 64.
        stem_channels (int): Stem width (larq's ``initial_filters``). Default: 64.
        channel_divisor (int): Transition widths are rounded to multiples of it. Default: 32.
        conv_cfg (dict): The binary convs. Default: :data:`BETHGE_CONV`.
        norm_cfg (dict): Norm layers. Default: ``dict(type='BN')`` (Keras' momentum 0.9 and
            eps 1e-5, as larq).
        in_channels (int): Image channels. Default: 3.
        stem (str): ``'imagenet'`` or ``'cifar'``. Default: ``'imagenet'``.
        out_indices (Sequence[int]): Stages to output (each after its transition).
            Default: (3, ).
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem). Default: -1.
        norm_eval (bool): BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): Default: Kaiming convs, BN weights 1.
    """
    arch_settings = {
        '28': dict(layers=(6, 6, 6, 5), reduction=(2.7, 2.7, 2.2), dilation=(1, 1, 1, 1)),
        '37': dict(layers=(6, 8, 12, 6), reduction=(3.3, 3.3, 4), dilation=(1, 1, 1, 1)),
        '37-dilated': dict(layers=(6, 8, 12, 6), reduction=(3.3, 3.3, 4),
                           dilation=(1, 1, 2, 4)),
        '45': dict(layers=(6, 12, 14, 8), reduction=(2.7, 3.3, 4), dilation=(1, 1, 1, 1)),
    }

    def __init__(self,
                 arch: Union[str, dict] = '28',
                 growth_rate: int = 64,
                 stem_channels: int = 64,
                 channel_divisor: int = 32,
                 conv_cfg: dict = BETHGE_CONV,
                 norm_cfg: dict = dict(type='BN'),
                 in_channels: int = 3,
                 stem: str = 'imagenet',
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=DEFAULT_INIT_CFG):
        arch = check_arch('BinaryDenseNet', arch, self.arch_settings,
                          ('layers', 'reduction', 'dilation'))
        layers, reduction, dilation = arch['layers'], arch['reduction'], arch['dilation']
        if not (len(reduction) == len(layers) - 1 and len(dilation) == len(layers)):
            raise ValueError(f'BinaryDenseNet arch needs one reduction per transition '
                             f'({len(layers) - 1}) and one dilation per stage ({len(layers)}), '
                             f'got {arch!r}')
        super().__init__(len(layers), out_indices, frozen_stages, norm_eval, init_cfg)
        check_positive_ints(growth_rate=growth_rate, stem_channels=stem_channels,
                            channel_divisor=channel_divisor)
        self.arch = arch
        self.stem = _dense_stem(stem, in_channels, stem_channels, norm_cfg)
        stages, channels = [], stem_channels
        for i, n in enumerate(layers):
            blocks, channels = dense_blocks(
                channels, n, growth_rate,
                lambda c, d=dilation[i]: DenseLayer(c, growth_rate, conv_cfg, norm_cfg, d))
            if i < len(layers) - 1:
                out = round(channels // reduction[i] / channel_divisor) * channel_divisor
                pool = 'floor' if dilation[i + 1] == 1 else None
                blocks.append(DenseTransition(channels, out, norm_cfg, pool))
                channels = out
            else:
                blocks.append(DenseTransition(channels, None, norm_cfg))
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.feat_dim = channels


def dense_blocks(channels: int, num: int, growth_rate: int, make) -> tuple:
    """``num`` blocks ``make(c)`` of a dense stage, each taking the ``c`` channels so far and
    adding ``growth_rate``: ``(blocks, channels after them)``."""
    blocks = []
    for _ in range(num):
        blocks.append(make(channels))
        channels += growth_rate
    return blocks, channels


def _dense_stem(stem: str, in_channels: int, channels: int, norm_cfg: dict) -> nn.Sequential:
    if stem == 'cifar':
        return nn.Sequential(nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False))
    if stem != 'imagenet':
        raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
    return nn.Sequential(nn.Conv2d(in_channels, channels, 7, 2, 3, bias=False),
                         build_norm_layer(norm_cfg, channels)[1], nn.ReLU(inplace=True),
                         nn.MaxPool2d(3, 2, 1))
