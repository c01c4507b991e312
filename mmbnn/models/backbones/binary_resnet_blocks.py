"""Residual blocks of binary ResNets: one class each for the basic block and the bottleneck.

A block is a chain of *units* (:func:`~mmbnn.models.utils.unit_post`:
``conv -> [act | norm | add shortcut]`` in a configurable order), so one class covers Group-Net,
Bi-Real Net and ReActNet-style blocks.

With ``groups=K`` a block holds the K bases of a Group-Net group as grouped convolutions over
K*C channels (its BN is per base and channel); with ``groups=1`` it is a single binary network.
``forward(x, num_shared_bases=K)`` takes the group's input ONCE (C channels) when all K bases
see the same input: the first conv then runs as one dense conv of the input binarized once
(:func:`~mmbnn.models.utils.conv_shared`), which gives what the grouped conv over the input
repeated K times gives. With ``base_dilations=(d_1, ..., d_K)`` the 3x3 convs give base k the
dilation rate d_k (Binary Parallel Atrous Convolution,
:class:`~mmbnn.layers.MultiDilationBinaryConv2d`); the weights and their state-dict keys are
those of the grouped conv.

The downsample ``nn.Sequential(conv, norm)`` (when the shape changes) is either shared by the K
bases (Group-Net's official code; its conv maps C_in = in_channels / K channels to C_out =
out_channels / K: ``shared_downsample``) or K per-base ones (its conv maps in_channels to
out_channels with K groups). Shared, on the shared input it runs once and its C_out channels are
added to every base (:func:`~mmbnn.models.utils.add_shortcut`); on K per-base inputs (soft
gates) it runs on each base's input and the K outputs are concatenated, base-major.
"""
from typing import Optional, Sequence

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import nn

from mmbnn.layers import BinaryConv2d, MultiDilationBinaryConv2d
from mmbnn.registry import MODELS, build_with_channels
from ..utils.binary_unit import check_order, conv_shared, unit_post

__all__ = ['BinaryBasicBlock', 'BinaryBottleneck', 'build_conv3x3']


def build_conv3x3(conv_cfg: dict, in_channels: int, out_channels: int, stride: int = 1,
                  dilation: int = 1, groups: int = 1,
                  base_dilations: Optional[Sequence[int]] = None) -> nn.Module:
    """The 3x3 conv of a block: ``conv_cfg`` with padding = dilation, or, with
    ``base_dilations``, a :class:`~mmbnn.layers.MultiDilationBinaryConv2d` taking the binarizers of
    ``conv_cfg`` (which must then be a :class:`~mmbnn.layers.BinaryConv2d`), one rate per base."""
    if base_dilations is None:
        return build_conv_layer(conv_cfg, in_channels, out_channels, 3, stride=stride,
                                padding=dilation, dilation=dilation, groups=groups, bias=False)
    conv_type = conv_cfg.get('type')
    cls = conv_type
    if isinstance(conv_type, str):
        cls = MODELS.get(conv_type) if conv_type in MODELS else None
    if cls not in (BinaryConv2d, MultiDilationBinaryConv2d):
        raise ValueError(f'base_dilations (BPAC) needs conv_cfg of type mmbnn.BinaryConv2d, '
                         f'got {conv_type!r}')
    cfg = dict(conv_cfg, type=MultiDilationBinaryConv2d, dilations=tuple(base_dilations))
    return build_conv_layer(cfg, in_channels, out_channels, 3, stride=stride, groups=groups,
                            bias=False)


class _BinaryBlock(BaseModule):
    expansion = 1

    def __init__(self, order: Sequence[str], act_cfg: Optional[dict],
                 norm_cfg: dict, init_cfg=None):
        super().__init__(init_cfg)
        self.order = check_order(order, act_cfg)
        self.act_cfg = act_cfg
        self.norm_cfg = norm_cfg

    def _make_post(self, index: int, channels: int):
        """Add norm{index} (named bn{index}, as torchvision's ResNet, for weight transfer) and,
        if the order has one, act{index}."""
        self.add_module(f'bn{index}', build_norm_layer(self.norm_cfg, channels)[1])
        if self.act_cfg is not None:
            self.add_module(f'act{index}', build_with_channels(self.act_cfg, channels))

    def _unit(self, index: int, x: torch.Tensor, shortcut: Optional[torch.Tensor],
              num_shared_bases: Optional[int] = None) -> torch.Tensor:
        conv = getattr(self, f'conv{index}')
        out = conv(x) if num_shared_bases is None else conv_shared(conv, x, num_shared_bases)
        return unit_post(out, self.order, getattr(self, f'act{index}', None),
                         getattr(self, f'bn{index}'), shortcut)

    def _set_downsample(self, downsample: Optional[nn.Module], in_channels: int, groups: int):
        """Keep ``downsample`` (``(conv, norm)`` or None) and whether the K = ``groups`` bases
        share it: its conv takes ``in_channels / K`` channels (one base's) instead of
        ``in_channels``."""
        self.downsample = downsample
        self.groups = groups
        self.shared_downsample = False
        if downsample is None:
            return
        cin = getattr(downsample[0], 'in_channels', None)
        if groups > 1 and cin is not None and cin * groups == in_channels:
            self.shared_downsample = True
        elif cin is not None and cin != in_channels:
            raise ValueError(f'downsample conv takes {cin} channels: expected in_channels = '
                             f'{in_channels} (per-base downsamples) or in_channels / groups = '
                             f'{in_channels // groups} (shared by the {groups} bases)')

    def _identity(self, x: torch.Tensor, num_shared_bases: Optional[int]) -> torch.Tensor:
        if self.downsample is None:
            return x  # C channels when shared: added to every base (add_shortcut)
        if self.shared_downsample:
            if num_shared_bases is not None:  # the bases' one input: C_out channels for all
                return self.downsample(x)
            # each base's own input (soft gates): the one downsample on each, base-major
            return torch.cat([self.downsample(xk) for xk in x.chunk(self.groups, 1)], 1)
        if num_shared_bases is None:
            return self.downsample(x)
        conv, *rest = self.downsample
        out = conv_shared(conv, x, num_shared_bases)
        for m in rest:
            out = m(out)
        return out


class BinaryBasicBlock(_BinaryBlock):
    """Two 3x3 binary convs, each with its own real-valued shortcut (Bi-Real style).

    ``y1 = unit1(x, shortcut=downsample(x))``, ``y = unit2(y1, shortcut=y1)``.

    Args:
        in_channels (int): Input channels (K*C for K bases).
        out_channels (int): Output channels.
        stride (int): Stride of the first conv. Default: 1.
        dilation (int): Dilation of both convs. Default: 1.
        groups (int): Conv groups; K for the K bases of a group. Default: 1.
        base_dilations (Sequence[int], optional): One dilation per base for both 3x3 convs
            (BPAC; ``groups`` must be a multiple of its length); overrides ``dilation``.
            Default: None.
        downsample (nn.Sequential, optional): Shortcut of the first unit when shapes change:
            (conv, norm), per base (conv in_channels -> out_channels, ``groups``) or shared by the
            K = ``groups`` bases (conv in_channels / K -> out_channels / K). Default: None.
        conv_cfg (dict): Binary conv config. norm_cfg (dict): Norm config.
        act_cfg (dict, optional): Activation config (``ReLU``, ``mmbnn.RPReLU``...).
        order (Sequence[str]): Steps after each conv. Default: ('act', 'norm', 'add').
    """
    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 groups: int = 1, downsample: Optional[nn.Module] = None,
                 conv_cfg: dict = dict(type='BinaryConv2d'), norm_cfg: dict = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 order: Sequence[str] = ('act', 'norm', 'add'),
                 base_dilations: Optional[Sequence[int]] = None, init_cfg=None):
        super().__init__(order, act_cfg, norm_cfg, init_cfg)
        self.conv1 = build_conv3x3(conv_cfg, in_channels, out_channels, stride, dilation, groups,
                                   base_dilations)
        self._make_post(1, out_channels)
        self.conv2 = build_conv3x3(conv_cfg, out_channels, out_channels, 1, dilation, groups,
                                   base_dilations)
        self._make_post(2, out_channels)
        self._set_downsample(downsample, in_channels, groups)

    def forward(self, x: torch.Tensor, num_shared_bases: Optional[int] = None) -> torch.Tensor:
        """``x``: (N, in_channels, H, W), or (N, in_channels / K, H, W) with
        ``num_shared_bases=K`` when the K bases share their input."""
        out = self._unit(1, x, self._identity(x, num_shared_bases), num_shared_bases)
        return self._unit(2, out, out)


class BinaryBottleneck(_BinaryBlock):
    """1x1 -> 3x3 -> 1x1 binary convs (ResNet-50 style, expansion 4).

    Real-valued shortcuts go around the 3x3 conv when its shape is kept (stride 1) and around
    the whole block (``downsample(x)``) at the last 1x1 conv. Args as :class:`BinaryBasicBlock`;
    ``out_channels`` is the block's output (4x the bottleneck width); ``base_dilations`` applies
    to the 3x3 conv.
    """
    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 groups: int = 1, downsample: Optional[nn.Module] = None,
                 conv_cfg: dict = dict(type='BinaryConv2d'), norm_cfg: dict = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 order: Sequence[str] = ('act', 'norm', 'add'),
                 base_dilations: Optional[Sequence[int]] = None, init_cfg=None):
        super().__init__(order, act_cfg, norm_cfg, init_cfg)
        mid = out_channels // self.expansion
        self.conv1 = build_conv_layer(conv_cfg, in_channels, mid, 1, groups=groups, bias=False)
        self._make_post(1, mid)
        self.conv2 = build_conv3x3(conv_cfg, mid, mid, stride, dilation, groups, base_dilations)
        self._make_post(2, mid)
        self.conv3 = build_conv_layer(conv_cfg, mid, out_channels, 1, groups=groups, bias=False)
        self._make_post(3, out_channels)
        self._set_downsample(downsample, in_channels, groups)
        self.stride = stride

    def forward(self, x: torch.Tensor, num_shared_bases: Optional[int] = None) -> torch.Tensor:
        """As :meth:`BinaryBasicBlock.forward`."""
        identity = self._identity(x, num_shared_bases)
        out = self._unit(1, x, None, num_shared_bases)
        out = self._unit(2, out, out if self.stride == 1 else None)
        return self._unit(3, out, identity)
