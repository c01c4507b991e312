"""Group-Net: structured binary ResNets (Zhuang et al., CVPR 2019 / IJCV 2022)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbnn.layers import GROUPNET_CONV, BaseAggregator, BinaryConv2d, with_num_bases
from mmbnn.registry import MODELS, build_with_channels
from ..utils.fp_init import DEFAULT_BASE_NOISE, load_full_precision
from .binary_resnet_blocks import BinaryBasicBlock, BinaryBottleneck
from .groupnet_stage import GroupNetStage

__all__ = ['GroupNetResNet', 'PooledConv2d', 'GroupedConv2d', 'BPAC_DILATIONS']

#: Group-Net's Binary Parallel Atrous Convolution rates for K = 5 bases (the paper's and its
#: official code's): stages 1-2 keep their dilation, stage 3 gives the five bases rates 2..6 and
#: stage 4 rates 6..10. Use with ``strides=(1, 2, 1, 1)`` (output stride 8).
BPAC_DILATIONS = (None, None, (2, 3, 4, 5, 6), (6, 7, 8, 9, 10))


class GroupedConv2d(nn.Conv2d):
    """A real ``nn.Conv2d`` (the backbone's ``'real'`` downsample) that also takes the K bases'
    shared input once: ``forward(x, num_shared_bases=K)`` equals ``forward(x.repeat(1, K, 1, 1))``
    and runs as one dense conv (the grouped weight is a dense one over the shared input)."""

    def forward(self, x, num_shared_bases: Optional[int] = None):
        if num_shared_bases is None:
            return super().forward(x)
        if self.groups % num_shared_bases or self.padding_mode != 'zeros':
            return super().forward(x.repeat(1, num_shared_bases, 1, 1))
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups // num_shared_bases)


class PooledConv2d(GroupedConv2d):
    """``conv1x1(avgpool(x))``: Bi-Real Net's real downsample shortcut. The conv keeps its
    ``weight`` key (``downsample.0.weight``), so full-precision weights still load into it."""

    def __init__(self, in_channels, out_channels, stride, groups=1):
        super().__init__(in_channels, out_channels, 1, groups=groups, bias=False)
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)

    def forward(self, x, num_shared_bases: Optional[int] = None):
        return super().forward(self.pool(x), num_shared_bases)


@MODELS.register_module()
class GroupNetResNet(BaseModule):
    """Group-Net ResNet: each group (residual block) rebuilt from K binary bases.

    ``G(x) = sum_k lambda_k B_k(x)``. With ``decomposition='group'`` (the paper's choice) each base
    is a whole binary copy of the block, and the K outputs are summed at the block's end; the K
    bases run as grouped convolutions over K*C channels, never as a loop over modules. With
    ``decomposition='layer'`` every conv is approximated by K binary convs summed at once
    (:class:`~mmbnn.layers.MultiBaseBinaryConv2d`). K = 1 is a plain binary ResNet, which with
    the matching ``conv_cfg``, ``order`` and ``downsample`` gives BNN, XNOR-Net, Bi-Real Net,
    IR-Net and ReActNet-style ResNets (K = 1 has no lambda: the block's output is the base's).
    The stem stays full precision; the classifier belongs to the head. Each stage is a
    :class:`~mmbnn.models.backbones.GroupNetStage`, which passes ``(x, own bases)`` from group to
    group.

    The stem ends WITHOUT an activation by default (``stem_act_cfg=None``), as Group-Net's
    official code (conv -> max-pool -> BN), Bi-Real Net, Real-to-Binary and BiDet have it: after a
    ReLU every input of the first binary conv would be >= 0, sign() (with sign(0) = +1) would map
    all of it to +1, and that conv's output would be the same for every image. Module names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``,
    ``layer1.0.downsample.0``...), so full-precision checkpoints map onto every base.

    Args:
        depth (int): 18, 34 or 50 (four stages), or 20 (CIFAR ResNet-20: three stages of three
            basic blocks; use ``stem='cifar'`` and ``stem_channels=base_channels=16``).
        num_bases (int): K, the number of binary bases per group. Default: 5.
        decomposition (str): ``'group'`` or ``'layer'``. Default: ``'group'``.
        learn_scales (bool): Learn the per-base scales lambda; else average. Default: True.
        soft_gate (bool): Soft connections between groups (group decomposition, K > 1; never
            into the first stage). Default: False.
        downsample (str): Shortcut when the shape changes: ``'binary'`` (binary 1x1 conv + BN, as
            Group-Net's code), ``'real'`` (real 1x1 conv + BN) or ``'avgpool'`` (avgpool + real
            1x1 conv + BN, Bi-Real). Default: ``'binary'``.
        conv_cfg (dict): Binary conv of the blocks; binarizers that take ``num_bases`` (per-base
            scales, per-base thresholds) get K. Default: Group-Net's,
            :data:`~mmbnn.layers.GROUPNET_CONV` (ApproxSign activations, XNOR weights, +1
            padding); :func:`~mmbnn.layers.groupnet_conv_cfg` gives its variants.
        norm_cfg (dict): Norm layers. Default: ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict, optional): Activation in the blocks. Default: ``dict(type='ReLU')``.
        order (Sequence[str]): Steps after each binary conv. Default: ``('act', 'norm', 'add')``.
        in_channels (int): Input image channels. Default: 3.
        stem_channels (int): Stem output channels. Default: 64.
        base_channels (int): Channels of stage 1. Default: 64.
        stem (str): ``'imagenet'`` (7x7/2 conv + max-pool), ``'cifar'`` (3x3/1 conv, no pool) or
            ``'deep'`` (three 3x3 convs + max-pool, as ResNetV1c). Default: ``'imagenet'``.
        stem_act_cfg (dict, optional): Activation at the end of the stem. None (the paper's):
            conv -> max-pool -> BN ('imagenet'), conv -> BN ('cifar'), the last conv -> BN ->
            max-pool ('deep'), so the first binary conv sees signed inputs. A dict (e.g.
            ``dict(type='ReLU')``, torchvision's stem): conv -> BN -> act [-> max-pool].
            Default: None.
        strides (Sequence[int], optional): Stride of each stage. Default: 1 for the first, 2 for
            the others.
        dilations (Sequence[int], optional): Dilation of each stage. Default: all 1.
        base_dilations (Sequence, optional): Binary Parallel Atrous Convolution (BPAC, Group-Net's
            segmentation backbone): per stage, None (every base uses the stage's dilation) or K
            rates, base k's dilation in the 3x3 convs of every block of the stage
            (:class:`~mmbnn.layers.MultiDilationBinaryConv2d`, padding = rate). The paper's:
            :data:`BPAC_DILATIONS`, ``(None, None, (2, 3, 4, 5, 6), (6, 7, 8, 9, 10))`` for K = 5.
            Needs ``decomposition='group'`` and a ``mmbnn.BinaryConv2d`` ``conv_cfg``; keys and
            shapes of the state dict are unchanged. Default: None (no BPAC).
        out_indices (Sequence[int]): Stages to output (negative counts from the end).
            Default: (-1, ), the last stage.
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem). Default: -1.
        norm_eval (bool): Keep BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): ``dict(type='Pretrained', checkpoint=...)`` copies a
            full-precision ResNet (torchvision or mmpretrain keys) into every base; base k > 0
            of every binary conv gets its copy perturbed by ``base_noise`` (default
            ``DEFAULT_BASE_NOISE``) times the layer's std of Gaussian noise, so that the K bases
            are not K identical copies (:func:`~mmbnn.models.utils.expand_to_bases`).
    """
    arch_settings = {
        20: (BinaryBasicBlock, (3, 3, 3)),  # the CIFAR ResNet-20 (use stem='cifar', width 16)
        18: (BinaryBasicBlock, (2, 2, 2, 2)),
        34: (BinaryBasicBlock, (3, 4, 6, 3)),
        50: (BinaryBottleneck, (3, 4, 6, 3)),
    }

    def __init__(self,
                 depth: int = 18,
                 num_bases: int = 5,
                 decomposition: str = 'group',
                 learn_scales: bool = True,
                 soft_gate: bool = False,
                 downsample: str = 'binary',
                 conv_cfg: dict = GROUPNET_CONV,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 order: Sequence[str] = ('act', 'norm', 'add'),
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 stem: str = 'imagenet',
                 stem_act_cfg: Optional[dict] = None,
                 strides: Optional[Sequence[int]] = None,
                 dilations: Optional[Sequence[int]] = None,
                 base_dilations: Optional[Sequence[Optional[Sequence[int]]]] = None,
                 out_indices: Sequence[int] = (-1, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for GroupNetResNet: choose from '
                           f'{sorted(self.arch_settings)}')
        if not isinstance(num_bases, int) or num_bases < 1:
            raise ValueError(f'num_bases (K) must be an int >= 1, got {num_bases!r}')
        if decomposition not in ('group', 'layer'):
            raise ValueError(f"decomposition must be 'group' or 'layer', got {decomposition!r}")
        if downsample not in ('binary', 'real', 'avgpool'):
            raise ValueError(f"downsample must be 'binary', 'real' or 'avgpool', "
                             f'got {downsample!r}')
        if stem not in ('imagenet', 'cifar', 'deep'):
            raise ValueError(f"stem must be 'imagenet', 'cifar' or 'deep', got {stem!r}")
        if soft_gate and decomposition != 'group':
            raise ValueError("soft_gate needs decomposition='group'")
        block, stage_blocks = self.arch_settings[depth]
        num_stages = len(stage_blocks)
        strides = (1, ) + (2, ) * (num_stages - 1) if strides is None else tuple(strides)
        dilations = (1, ) * num_stages if dilations is None else tuple(dilations)
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(f'strides and dilations need {num_stages} values, got '
                             f'{tuple(strides)} and {tuple(dilations)}')
        base_dilations = self._check_base_dilations(base_dilations, num_stages, num_bases,
                                                    decomposition)
        out_indices = tuple(out_indices)
        for i in out_indices:
            if not -num_stages <= i < num_stages:
                raise IndexError(f'out_indices value {i} is out of range for {num_stages} '
                                 f'stages')
        self.out_indices = tuple(i % num_stages for i in out_indices)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], got {frozen_stages}')

        self.depth = depth
        self.num_bases = num_bases
        self.decomposition = decomposition
        self.base_dilations = base_dilations
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.norm_cfg = norm_cfg
        self.stem_type = stem
        self._make_stem(in_channels, stem_channels, norm_cfg, stem_act_cfg)

        # Group decomposition: blocks see K*C channels in K conv groups, and every block has an
        # aggregator. Layer decomposition: K-base convs, blocks see C channels.
        k = num_bases if decomposition == 'group' else 1
        if decomposition == 'layer':
            conv_cfg = dict(conv_cfg, type='mmbnn.MultiBaseBinaryConv2d', num_bases=num_bases,
                            learn_scales=learn_scales)
        else:
            conv_cfg = with_num_bases(conv_cfg, num_bases)
        self.res_layers = []
        in_ch = stem_channels
        for i, num_blocks in enumerate(stage_blocks):
            out_ch = base_channels * 2**i * block.expansion
            blocks = []
            for j in range(num_blocks):
                stride = strides[i] if j == 0 else 1
                ds = None
                if stride != 1 or in_ch != out_ch:
                    ds = self._make_downsample(downsample, in_ch * k, out_ch * k, stride, k,
                                               conv_cfg, norm_cfg)
                b = block(in_ch * k, out_ch * k, stride=stride, dilation=dilations[i], groups=k,
                          downsample=ds, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                          order=order, base_dilations=base_dilations[i])
                if decomposition == 'group' and num_bases > 1:
                    b.aggregate = BaseAggregator(num_bases, learn_scales=learn_scales,
                                                 soft_gate=soft_gate and i > 0)
                blocks.append(b)
                in_ch = out_ch
            self.add_module(f'layer{i + 1}', GroupNetStage(*blocks))
            self.res_layers.append(f'layer{i + 1}')
        self.feat_dim = in_ch
        if decomposition == 'group':  # the K bases are the convs' groups: run them per base
            for m in self.modules():  # where that is faster (BinaryConv2d.execution_bases)
                if isinstance(m, BinaryConv2d):
                    m.execution_bases = num_bases

    @staticmethod
    def _check_base_dilations(base_dilations, num_stages, num_bases, decomposition):
        """``base_dilations`` as a tuple of ``num_stages`` entries, None or K ints each."""
        if base_dilations is None:
            return (None, ) * num_stages
        if decomposition != 'group':
            raise ValueError(f"base_dilations (BPAC) needs decomposition='group', got "
                             f'decomposition={decomposition!r}')
        if isinstance(base_dilations, (str, int)) or len(base_dilations) != num_stages:
            raise ValueError(f'base_dilations needs one entry per stage ({num_stages}): None or '
                             f'a list of K = num_bases = {num_bases} rates, got {base_dilations!r}')
        checked = []
        for i, rates in enumerate(base_dilations):
            if rates is None:
                checked.append(None)
                continue
            if isinstance(rates, (str, int)) or len(rates) != num_bases:
                n = 'an int' if isinstance(rates, (str, int)) else f'{len(rates)} rates'
                raise ValueError(f'base_dilations[{i}] (stage {i + 1}) is {n} ({rates!r}), but '
                                 f'it needs one rate per base: K = num_bases = {num_bases}')
            if not all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in rates):
                raise ValueError(f'base_dilations[{i}] (stage {i + 1}) must hold ints >= 1, got '
                                 f'{rates!r}')
            checked.append(tuple(rates))
        return tuple(checked)

    def _make_stem(self, in_channels, stem_channels, norm_cfg, act_cfg):
        act = (lambda: build_with_channels(act_cfg, stem_channels)) if act_cfg else None
        self.stem_act_cfg = act_cfg
        if self.stem_type == 'deep':
            mid = stem_channels // 2
            layers = []
            for i, (cin, cout) in enumerate([(in_channels, mid), (mid, mid),
                                             (mid, stem_channels)]):
                layers += [nn.Conv2d(cin, cout, 3, stride=2 if i == 0 else 1, padding=1,
                                     bias=False),
                           build_norm_layer(norm_cfg, cout)[1]]
                if i < 2:
                    layers.append(nn.ReLU(inplace=True))
                elif act is not None:
                    layers.append(act())
            self.stem = nn.Sequential(*layers)
        else:
            imagenet = self.stem_type == 'imagenet'
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 7 if imagenet else 3,
                                   stride=2 if imagenet else 1, padding=3 if imagenet else 1,
                                   bias=False)
            self.bn1 = build_norm_layer(norm_cfg, stem_channels)[1]
            if act is not None:
                self.stem_act = act()
        self.maxpool = (nn.MaxPool2d(3, stride=2, padding=1) if self.stem_type != 'cifar'
                        else nn.Identity())

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """The full-precision stem (see ``stem_act_cfg`` for its order)."""
        if self.stem_type == 'deep':
            return self.maxpool(self.stem(x))
        x = self.conv1(x)
        if self.stem_act_cfg is None:  # the paper's: conv -> max-pool -> BN, signed output
            return self.bn1(self.maxpool(x))
        return self.maxpool(self.stem_act(self.bn1(x)))

    @staticmethod
    def _make_downsample(kind, in_ch, out_ch, stride, groups, conv_cfg, norm_cfg):
        if kind == 'binary':
            conv = build_conv_layer(conv_cfg, in_ch, out_ch, 1, stride=stride, groups=groups,
                                    bias=False)
        elif kind == 'real':
            conv = GroupedConv2d(in_ch, out_ch, 1, stride=stride, groups=groups, bias=False)
        else:
            conv = PooledConv2d(in_ch, out_ch, stride, groups=groups)
        return nn.Sequential(conv, build_norm_layer(norm_cfg, out_ch)[1])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.forward_stem(x)
        outs, own = [], None  # own: the last group's per-base outputs (soft connections)
        for i, name in enumerate(self.res_layers):
            x, own = getattr(self, name)(x, own)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self):
        init_cfg = self.init_cfg
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            unknown = set(init_cfg) - {'type', 'checkpoint', 'prefix', 'base_noise', 'map_location'}
            if unknown:
                raise KeyError(f'GroupNetResNet init_cfg (Pretrained) got unknown keys '
                               f'{sorted(unknown)}')
            load_full_precision(self, init_cfg['checkpoint'], prefix=init_cfg.get('prefix'),
                                map_location=init_cfg.get('map_location', 'cpu'),
                                base_noise=init_cfg.get('base_noise', DEFAULT_BASE_NOISE))
            self._is_init = True
            return
        super().init_weights()
        if init_cfg is None:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            stem = [self.stem] if self.stem_type == 'deep' else [self.conv1, self.bn1]
            for m in stem:
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            m = getattr(self, f'layer{i}')
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
