"""QuickNet, QuickNetSmall and QuickNetLarge (Bannink et al., "Larq Compute Engine: Design,
Benchmark, and Deploy State-of-the-Art Binarized Neural Networks", MLSys 2021), as larq-zoo
builds them (``larq_zoo/sota/quicknet.py``)."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from mmbnn.registry import MODELS, build_with_channels
from ..utils.binary_unit import unit_post
from ..utils.keras_layers import BlurPool2d, build_keras_bn
from .binary_densenet import check_arch
from .staged_backbone import StagedBackbone

__all__ = ['QuickNet', 'QuickNetBlock', 'QuickNetTransition', 'QUICKNET_CONV']

#: QuickNet's binary conv (larq-zoo): sign inputs and sign weights, both with the straight-through
#: gradient clipped at 1.25 (larq's ``SteSign(clip_value=1.25)``), no weight scale, the border
#: padded with +1 (``pad_values=1.0``). larq clips the latent weights to [-1.25, 1.25]
#: (``WeightClip(1.25)``): ``custom_hooks=[dict(type='mmbnn.LatentClampHook')]`` reads that bound
#: from the binarizer.
QUICKNET_CONV = dict(type='mmbnn.BinaryConv2d',
                     act_binarizer=dict(type='STESign', clip_value=1.25),
                     weight_binarizer=dict(type='SignWeight', clip_value=1.25), pad_value=1.0)


class QuickNetBlock(nn.Module):
    """``x + BN(ReLU(binconv3x3(x)))``: larq-zoo's ``residual_block`` (the ReLU is the
    ``QuantConv2D``'s own ``activation``, so it comes before the BN), channels and size kept.

    Args:
        channels (int): Input and output channels.
        conv_cfg (dict): The binary conv. norm_cfg (dict): The BN. act_cfg (dict): The ReLU.
    """

    def __init__(self, channels: int, conv_cfg: dict, norm_cfg: dict, act_cfg: dict):
        super().__init__()
        self.conv = build_conv_layer(conv_cfg, channels, channels, 3, padding=1, bias=False)
        self.act = build_with_channels(act_cfg, channels)
        self.bn = build_norm_layer(norm_cfg, channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return unit_post(self.conv(x), ('act', 'norm', 'add'), self.act, self.bn, x)


class QuickNetTransition(nn.Sequential):
    """``ReLU -> max-pool 2x2 (stride 1, "valid") -> BlurPool 3x3/stride -> real 1x1 conv -> BN``:
    larq-zoo's ``transition_block``, where the number of channels changes. The max-pool keeps
    ``H - 1`` rows; the blur's "same" padding then gives ``ceil((H - 1) / stride)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm_cfg: dict):
        super().__init__(
            nn.ReLU(inplace=True),
            nn.MaxPool2d(stride, stride=1),
            BlurPool2d(in_channels, 3, stride),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1])


@MODELS.register_module()
class QuickNet(StagedBackbone):
    """QuickNet: a stem, then stages of single-conv binary residual blocks joined by real
    transitions, as larq-zoo builds QuickNet, QuickNetSmall and QuickNetLarge.

    - Stem (full precision): ``conv3x3/2 (C0 / 4) -> BN -> ReLU -> depthwise conv3x3/2 -> BN
      (no gamma, no beta) -> conv1x1 (C0) -> BN``.
    - Stage i: a :class:`QuickNetTransition` where the channels change (stages 2-4), then
      ``blocks[i]`` :class:`QuickNetBlock` ``x + BN(ReLU(binconv3x3(x)))``.
    - The last stage ends with a ReLU (larq-zoo applies it before the global pooling).

    With ``mmpretrain``'s ``GlobalAveragePooling`` neck and ``LinearClsHead`` (a real dense
    layer with bias) it is larq-zoo's classifier: 13,234,088 / 12,655,688 / 23,342,248
    parameters and 4.17 / 4.00 / 5.40 MB for ``'base'``, ``'small'``, ``'large'`` in larq's
    convention (:func:`mmbnn.analysis.larq_counts`; ``tests/test_arch_quicknet.py``).

    Differences from larq-zoo, none of which changes a count: TensorFlow's "same" padding of the
    two stride-2 stem convs pads (0, 1) on even sizes, ours pads (1, 1) (same output size,
    shifted by a pixel); Keras' BN defaults in the stem (momentum 0.99, eps 1e-3) are the
    ``norm_cfg`` of the rest here; initialisers are mmengine's (Kaiming-normal convs,
    Xavier-normal binary convs) instead of Keras' truncated ones.

    Args:
        arch (str | dict): ``'small'``, ``'base'`` or ``'large'`` (:attr:`arch_settings`), or a
            dict with ``blocks`` (blocks per stage) and ``channels`` (channels per stage).
            Default: ``'base'``.
        in_channels (int): Input image channels. Default: 3.
        stem_strides (Sequence[int]): Strides of the stem's 3x3 conv and depthwise conv.
            Default: (2, 2).
        strides (Sequence[int]): Stride of each transition (stages 2, 3, ...). Default: all 2.
        conv_cfg (dict): The blocks' binary conv. Default: :data:`QUICKNET_CONV`.
        norm_cfg (dict): BN layers. Default: ``dict(type='BN')`` (PyTorch's momentum 0.1 and eps
            1e-5 are larq-zoo's block BN: Keras momentum 0.9, eps 1e-5).
        act_cfg (dict): The activation after each binary conv. Default: ``dict(type='ReLU')``.
        out_indices (Sequence[int]): Stages to output (negative: from the end). Default: (-1, ).
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem). Default: -1.
        norm_eval (bool): Keep BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): Default: Kaiming-normal convs, Xavier-normal binary
            convs (larq-zoo's ``glorot_normal``), BN weight 1.
    """
    arch_settings = {
        'small': dict(blocks=(4, 4, 4, 4), channels=(32, 64, 256, 512)),
        'base': dict(blocks=(4, 4, 4, 4), channels=(64, 128, 256, 512)),
        'large': dict(blocks=(6, 8, 12, 6), channels=(64, 128, 256, 512)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 in_channels: int = 3,
                 stem_strides: Sequence[int] = (2, 2),
                 strides: Optional[Sequence[int]] = None,
                 conv_cfg: dict = QUICKNET_CONV,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 out_indices: Sequence[int] = (-1, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Xavier', distribution='normal', layer=['BinaryConv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm']),
                 ]):
        arch = check_arch(type(self).__name__, arch, self.arch_settings, ('blocks', 'channels'))
        blocks, channels = tuple(arch['blocks']), tuple(arch['channels'])
        if len(blocks) != len(channels) or not blocks:
            raise ValueError(f'arch blocks {blocks} and channels {channels} need one value per '
                             'stage each')
        if channels[0] % 4:
            raise ValueError(f'the first stage\'s channels must be a multiple of 4 (the stem '
                             f'conv has a quarter of them), got {channels[0]}')
        strides = (2, ) * (len(blocks) - 1) if strides is None else tuple(strides)
        if len(strides) != len(blocks) - 1 or len(tuple(stem_strides)) != 2:
            raise ValueError(f'stem_strides needs 2 values and strides one per transition '
                             f'({len(blocks) - 1}), got {tuple(stem_strides)} and {strides}')
        super().__init__(len(blocks), out_indices, frozen_stages, norm_eval, init_cfg)
        self.arch = arch
        c0 = channels[0]
        s1, s2 = stem_strides
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c0 // 4, 3, stride=s1, padding=1, bias=False),
            build_norm_layer(norm_cfg, c0 // 4)[1],
            nn.ReLU(inplace=True),
            nn.Conv2d(c0 // 4, c0 // 4, 3, stride=s2, padding=1, groups=c0 // 4, bias=False),
            build_keras_bn(norm_cfg, c0 // 4, scale=False, center=False),
            nn.Conv2d(c0 // 4, c0, 1, bias=False),
            build_norm_layer(norm_cfg, c0)[1])
        self.stages = nn.ModuleList()
        in_ch = c0
        for i, (n, out_ch) in enumerate(zip(blocks, channels)):
            layers = []
            if out_ch != in_ch:
                layers.append(QuickNetTransition(in_ch, out_ch, strides[i - 1], norm_cfg))
            layers += [QuickNetBlock(out_ch, conv_cfg, norm_cfg, act_cfg) for _ in range(n)]
            if i == len(blocks) - 1:
                layers.append(nn.ReLU(inplace=True))
            self.stages.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.feat_dim = in_ch
