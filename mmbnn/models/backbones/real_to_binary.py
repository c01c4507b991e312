"""Real-to-Binary Net (Martinez, Yang, Bulat, Tzimiropoulos, "Training Binary Neural Networks
with Real-to-Binary Convolutions", ICLR 2020), as larq-zoo builds it
(``larq_zoo/literature/real_to_bin_nets.py``, the reference implementation: the authors
published no code)."""
from typing import Optional, Sequence

import torch
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from torch import nn

from mmbnn.layers import FactorisedScale
from mmbnn.registry import MODELS
from .groupnet_resnet import PooledConv2d
from .staged_backbone import DEFAULT_INIT_CFG, StagedBackbone, check_positive_ints

__all__ = ['RealToBinaryNet', 'RealToBinaryBlock', 'DataDependentScale', 'R2B_BNN_CONV',
           'R2B_BAN_CONV', 'R2B_FP_CONV', 'build_channel_act']

#: The binary conv of the final Real-to-Binary network (larq-zoo's ``r2b_bnn``): sign inputs and
#: sign weights, both with the straight-through gradient clipped at 1 (larq's ``ste_sign``), no
#: scale (the data-dependent scaling replaces it), zero padding. larq also clips the latent
#: weights to [-1, 1] (``weight_clip``): ``custom_hooks=[dict(type='mmbnn.LatentClampHook')]``.
R2B_BNN_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
                    weight_binarizer=dict(type='SignWeight'))
#: Stage 2 of the recipe (``r2b_ban``): binary activations, real weights.
R2B_BAN_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
                    weight_binarizer=None)
#: Stage 1 of the recipe (``r2b_fp``): tanh in place of sign, real weights.
R2B_FP_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='FPProxy', kind='tanh'),
                   weight_binarizer=None)

_SCALINGS = ('data', 'learned', None)


def build_channel_act(cfg: Optional[dict], channels: int) -> nn.Module:
    """An activation of ``channels`` channels: ``PReLU`` gets ``num_parameters=channels`` (one
    slope per channel, larq's ``PReLU(shared_axes=[1, 2])``), mmbnn's per-channel activations
    (``mmbnn.RPReLU``) ``channels``; others are built as configured. None: identity."""
    if cfg is None:
        return nn.Identity()
    cfg = dict(cfg)
    if cfg['type'] in ('PReLU', nn.PReLU):
        cfg.setdefault('num_parameters', channels)
    elif isinstance(cfg['type'], str) and cfg['type'].startswith('mmbnn.'):
        cfg.setdefault('channels', channels)
    return build_activation_layer(cfg)


class DataDependentScale(nn.Module):
    """Real-to-Binary's data-dependent scaling of a binary conv's output (Section 4.3; larq's
    ``_scale_binary_conv_output``): ``y = conv_out . sigmoid(W2 relu(W1 mean_hw(conv_in)))``,
    one scale per output channel and image computed from the conv's real-valued input (a
    squeeze-and-excitation gate; ``W1``: C_in -> C_in / r, ``W2``: C_in / r -> C_out, no biases).

    Args:
        in_channels (int): C_in. out_channels (int): C_out. ratio (int): r. Default: 8.
    """

    def __init__(self, in_channels: int, out_channels: int, ratio: int = 8):
        super().__init__()
        if isinstance(ratio, bool) or not isinstance(ratio, int) or not 1 <= ratio <= in_channels:
            raise ValueError(f'scaling_ratio must be an int in [1, {in_channels}] (C_in / r '
                             f'hidden units), got {ratio!r}')
        self.reduce = nn.Linear(in_channels, in_channels // ratio, bias=False)
        self.expand = nn.Linear(in_channels // ratio, out_channels, bias=False)

    def forward(self, conv_in: torch.Tensor, conv_out: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.reduce(conv_in.mean(dim=(2, 3))))
        return conv_out * torch.sigmoid(self.expand(z))[:, :, None, None]


class RealToBinaryHalfBlock(nn.Module):
    """One binary conv of Real-to-Binary's block (its Figure 1; larq's ``half_binary_block``):
    ``act(scale(conv(BN(x)))) + shortcut(x)``, with ``shortcut`` the identity, or avg-pool + real
    1x1 conv + BN where the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, conv_cfg: dict,
                 norm_cfg: dict, act_cfg: Optional[dict], scaling: Optional[str],
                 scaling_ratio: int, scale_size: int):
        super().__init__()
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(PooledConv2d(in_channels, out_channels, stride),
                                          build_norm_layer(norm_cfg, out_channels)[1])
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, 3, stride=stride,
                                     padding=1, bias=False)
        self.scaling = scaling
        if scaling == 'data':
            self.scale = DataDependentScale(in_channels, out_channels, scaling_ratio)
        elif scaling == 'learned':
            self.scale = FactorisedScale(out_channels, ('c', 'h', 'w'), max_size=scale_size)
        self.act = build_channel_act(act_cfg, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        y = self.norm(x)
        out = self.conv(y)
        if self.scaling == 'data':
            out = self.scale(y, out)
        elif self.scaling == 'learned':
            out = self.scale(out)
        return self.act(out) + identity


class RealToBinaryBlock(nn.Sequential):
    """Real-to-Binary's block: two :class:`RealToBinaryHalfBlock` (``0`` strides and widens where
    the stage changes, ``1`` keeps the shape). Its output is what the attention transfer of the
    recipe matches against a ResNet's basic block (larq's ``block_{b}_out``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, **kwargs):
        super().__init__(RealToBinaryHalfBlock(in_channels, out_channels, stride, **kwargs),
                         RealToBinaryHalfBlock(out_channels, out_channels, 1, **kwargs))


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@MODELS.register_module()
class RealToBinaryNet(StagedBackbone):
    """Real-to-Binary Net: a ResNet-18 layout of binary blocks with real shortcuts, each binary
    conv preceded by BN and followed by a data-dependent scale and PReLU.

    Layout (larq-zoo): stem ``conv7x7/2 -> BN -> PReLU -> max-pool 3x3/2`` (full precision);
    four stages of two :class:`RealToBinaryBlock` (four binary 3x3 convs) at widths 64, 128,
    256, 512, the first block of stages 2-4 halving the resolution (its shortcut: avg-pool + real
    1x1 conv + BN); the classifier (global pooling + dense) belongs to the neck and head. Every
    binary conv: ``BN -> conv -> scale -> PReLU -> + shortcut``. At 224 x 224 with the
    1000-class head: 11,995,624 parameters counting BN's four vectors (larq's figure), 5.13 MB
    with 1-bit weights as bits, 1.81 G MACs (92.4 % binary) (``tests/test_arch_real_to_binary.py``).

    The recipe's stages differ only in ``conv_cfg``: :data:`R2B_FP_CONV` (tanh, real weights),
    :data:`R2B_BAN_CONV` (sign inputs, real weights), :data:`R2B_BNN_CONV` (the default, the final
    binary network); see ``configs/real_to_binary``.

    Where larq-zoo's code and its comment (the paper's ResNet stem) differ, on the stem's
    activation, the code's PReLU is the default (``stem_act_cfg``). larq's "strong baseline"
    (the paper's Section 4.1) is ``scaling='learned'`` (XNOR-Net++'s factorised scales, sized to
    each stage's output at ``input_size``).

    Args:
        depth (int): Key of :attr:`arch_settings` (blocks per stage). Default: 18.
        conv_cfg (dict): The binary convs. Default: :data:`R2B_BNN_CONV`.
        norm_cfg (dict): Norm layers. Default: ``dict(type='BN')`` (larq uses momentum 0.99,
            torch's 0.01: the ImageNet configs set it).
        act_cfg (dict, optional): Activation after each scaled binary conv, one parameter per
            channel for ``PReLU``. Default: ``dict(type='PReLU', init=0.0)`` (Keras' PReLU starts
            at slope 0).
        stem_act_cfg (dict, optional): Activation of the stem. Default: the code's PReLU,
            ``dict(type='PReLU', init=0.0)`` (larq-zoo's comment and the paper's ResNet stem say
            ReLU, but its ``isinstance(self, StrongBaselineNetFactory)`` holds for
            Real-to-Binary, which subclasses it: ``dict(type='ReLU')`` gives the ReLU stem, 64
            parameters fewer).
        scaling (str, optional): ``'data'`` (Real-to-Binary's gate), ``'learned'`` (the strong
            baseline's factorised scales) or None. Default: ``'data'``.
        scaling_ratio (int): r of the data-dependent gate. Default: 8.
        input_size (int): Image size that sizes the ``'learned'`` scales (each stage's output
            at this input; smaller inputs use their first rows and columns). Only with
            ``scaling='learned'``. Default: None.
        in_channels (int): Image channels. Default: 3.
        stem_channels (int): Stem and stage-1 width (stage i: ``stem_channels * 2^i``).
            Default: 64.
        stem (str): ``'imagenet'`` (7x7/2 conv + max-pool) or ``'cifar'`` (3x3/1 conv, no pool,
            for small images). Default: ``'imagenet'``.
        out_indices (Sequence[int]): Stages to output. Default: (3, ).
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem). Default: -1.
        norm_eval (bool): BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): Default: Kaiming convs, BN weights 1.
    """
    arch_settings = {18: (2, 2, 2, 2)}

    def __init__(self,
                 depth: int = 18,
                 conv_cfg: dict = R2B_BNN_CONV,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='PReLU', init=0.0),
                 stem_act_cfg: Optional[dict] = dict(type='PReLU', init=0.0),
                 scaling: Optional[str] = 'data',
                 scaling_ratio: int = 8,
                 input_size: Optional[int] = None,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 stem: str = 'imagenet',
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=DEFAULT_INIT_CFG):
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth!r} for RealToBinaryNet: choose from '
                           f'{sorted(self.arch_settings)}')
        stage_blocks = self.arch_settings[depth]
        super().__init__(len(stage_blocks), out_indices, frozen_stages, norm_eval, init_cfg)
        if scaling not in _SCALINGS:
            raise ValueError(f'scaling must be one of {_SCALINGS}, got {scaling!r}')
        if stem not in ('imagenet', 'cifar'):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        check_positive_ints(stem_channels=stem_channels, in_channels=in_channels)
        if (scaling == 'learned') != (input_size is not None):
            raise ValueError("input_size sizes the learned scales: give it with "
                             f"scaling='learned' and only then (got scaling={scaling!r}, "
                             f'input_size={input_size!r})')
        self.depth, self.scaling = depth, scaling
        self.stem = self._make_stem(stem, in_channels, stem_channels, norm_cfg, stem_act_cfg)
        size = input_size or 0
        if stem == 'imagenet':
            size = _conv_out(_conv_out(size, 7, 2, 3), 3, 2, 1)
        stages, in_ch = [], stem_channels
        for i, num_blocks in enumerate(stage_blocks):
            out_ch = stem_channels * 2**i
            blocks = []
            for j in range(num_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                size = _conv_out(size, 3, stride, 1)
                blocks.append(RealToBinaryBlock(
                    in_ch, out_ch, stride, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                    act_cfg=act_cfg, scaling=scaling, scaling_ratio=scaling_ratio,
                    scale_size=max(size, 1)))
                in_ch = out_ch
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.feat_dim = in_ch

    @staticmethod
    def _make_stem(stem, in_channels, channels, norm_cfg, act_cfg):
        layers = [nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False) if stem == 'cifar' else
                  nn.Conv2d(in_channels, channels, 7, 2, 3, bias=False),
                  build_norm_layer(norm_cfg, channels)[1], build_channel_act(act_cfg, channels)]
        if stem == 'imagenet':
            layers.append(nn.MaxPool2d(3, 2, 1))
        return nn.Sequential(*layers)
