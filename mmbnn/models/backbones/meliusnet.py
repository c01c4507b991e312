"""MeliusNet (Bethge, Bartz, Yang, Bornstein, Meinel, "MeliusNet: Can Binary Neural Networks
Achieve MobileNet-level Accuracy?", arXiv 2001.05936, 2020), as larq-zoo builds it
(``larq_zoo/literature/meliusnet.py``)."""
from typing import Sequence, Union

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from mmbnn.registry import MODELS
from .binary_densenet import BETHGE_CONV, DenseLayer, DenseTransition, dense_blocks
from .staged_backbone import (DEFAULT_INIT_CFG, StagedBackbone, check_arch,
                              check_positive_ints)

__all__ = ['MeliusNet', 'ImprovementLayer', 'MeliusBlock']


class ImprovementLayer(nn.Module):
    """MeliusNet's improvement block: a binary 3x3 conv of ``BN(x)`` with ``growth_rate``
    outputs added to the LAST ``growth_rate`` channels of ``x`` (the ones the preceding dense
    layer just made), the others passed unchanged."""

    def __init__(self, in_channels: int, growth_rate: int, conv_cfg: dict, norm_cfg: dict):
        super().__init__()
        if growth_rate > in_channels:
            raise ValueError(f'an improvement block adds {growth_rate} channels to an input of '
                             f'{in_channels}')
        self.growth_rate = growth_rate
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv = build_conv_layer(conv_cfg, in_channels, growth_rate, 3, padding=1,
                                     bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv(self.norm(x))
        keep = x.size(1) - self.growth_rate
        return torch.cat([x[:, :keep], x[:, keep:] + w], dim=1)


class MeliusBlock(nn.Sequential):
    """A :class:`~mmbnn.models.backbones.binary_densenet.DenseLayer` (adds ``growth_rate``
    channels) then an :class:`ImprovementLayer` (improves them)."""

    def __init__(self, in_channels: int, growth_rate: int, conv_cfg: dict, norm_cfg: dict):
        super().__init__(DenseLayer(in_channels, growth_rate, conv_cfg, norm_cfg),
                         ImprovementLayer(in_channels + growth_rate, growth_rate, conv_cfg,
                                          norm_cfg))


@MODELS.register_module()
class MeliusNet(StagedBackbone):
    """MeliusNet: dense stages of binary "dense + improvement" block pairs, real transitions.

    Layout (larq-zoo): a grouped stem, ``conv3x3/2 (C/2) -> BN -> ReLU -> grouped conv3x3 (C/2,
    4 groups) -> BN -> ReLU -> grouped conv3x3 (C, 8 groups) -> BN -> ReLU -> max-pool 2x2/2``
    (C = ``stem_channels``; larq splits and concatenates, the same convs as ``groups``);
    stage i stacks ``num_blocks[i]`` :class:`MeliusBlock` and ends with a
    :class:`~mmbnn.models.backbones.binary_densenet.DenseTransition` (``BN -> max-pool -> ReLU
    -> real 1x1 conv``) to ``transition_channels[i]``; the last stage ends with ``BN -> ReLU``.
    At 224 x 224 with the 1000-class head: 6,944,584 parameters counting BN's four vectors,
    3.88 MB with 1-bit weights as bits and BN's two folded vectors, 4.76 G MACs (97.1 % binary)
    (``tests/test_arch_meliusnet.py``).

    Args:
        arch (str | dict): ``'22'`` or a dict with keys ``num_blocks`` and
            ``transition_channels`` (one per stage, None for the last). Default: ``'22'``.
        growth_rate (int): Channels a block adds (and improves). Default: 64.
        stem_channels (int): Stem width C (its first two convs have C / 2). Default: 64.
        stem_groups (Sequence[int]): Groups of the stem's two grouped convs. Default: (4, 8).
        conv_cfg (dict): The binary convs. Default:
            :data:`~mmbnn.models.backbones.binary_densenet.BETHGE_CONV`.
        norm_cfg (dict): Norm layers. Default: ``dict(type='BN')`` (Keras' momentum 0.9, eps
            1e-5, as larq).
        in_channels (int): Image channels. Default: 3.
        stem (str): ``'imagenet'`` (stride 2 and the max-pool) or ``'cifar'`` (the same convs at
            stride 1, no max-pool, for small images; not in larq-zoo). Default: ``'imagenet'``.
        out_indices (Sequence[int]): Stages to output (each after its transition).
            Default: (3, ).
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem). Default: -1.
        norm_eval (bool): BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): Default: Kaiming convs, BN weights 1.
    """
    arch_settings = {
        '22': dict(num_blocks=(4, 5, 4, 4), transition_channels=(160, 224, 256, None)),
    }

    def __init__(self,
                 arch: Union[str, dict] = '22',
                 growth_rate: int = 64,
                 stem_channels: int = 64,
                 stem_groups: Sequence[int] = (4, 8),
                 conv_cfg: dict = BETHGE_CONV,
                 norm_cfg: dict = dict(type='BN'),
                 in_channels: int = 3,
                 stem: str = 'imagenet',
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=DEFAULT_INIT_CFG):
        arch = check_arch('MeliusNet', arch, self.arch_settings,
                          ('num_blocks', 'transition_channels'))
        num_blocks, transitions = arch['num_blocks'], arch['transition_channels']
        if len(transitions) != len(num_blocks) or transitions[-1] is not None:
            raise ValueError(f'MeliusNet arch needs one transition width per stage, None for the '
                             f'last, got {arch!r}')
        super().__init__(len(num_blocks), out_indices, frozen_stages, norm_eval, init_cfg)
        check_positive_ints(growth_rate=growth_rate, stem_channels=stem_channels)
        self.arch = arch
        self.stem = self._make_stem(stem, in_channels, stem_channels, tuple(stem_groups),
                                    norm_cfg)
        stages, channels = [], stem_channels
        for n, out in zip(num_blocks, transitions):
            blocks, channels = dense_blocks(
                channels, n, growth_rate,
                lambda c: MeliusBlock(c, growth_rate, conv_cfg, norm_cfg))
            blocks.append(DenseTransition(channels, out, norm_cfg, pool='ceil'))
            channels = blocks[-1].out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.feat_dim = channels

    @staticmethod
    def _make_stem(stem, in_channels, channels, groups, norm_cfg):
        if stem not in ('imagenet', 'cifar'):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        mid = channels // 2
        if len(groups) != 2 or mid % groups[0] or mid % groups[1] or channels % groups[1]:
            raise ValueError(f'stem_groups {groups!r} must be two group counts dividing the '
                             f'stem widths {mid} and {channels}')
        stride = 2 if stem == 'imagenet' else 1
        layers = []
        for cin, cout, s, g in ((in_channels, mid, stride, 1), (mid, mid, 1, groups[0]),
                                (mid, channels, 1, groups[1])):
            layers += [nn.Conv2d(cin, cout, 3, s, 1, groups=g, bias=False),
                       build_norm_layer(norm_cfg, cout)[1], nn.ReLU(inplace=True)]
        if stem == 'imagenet':
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        return nn.Sequential(*layers)
