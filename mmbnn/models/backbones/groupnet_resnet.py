"""Group-Net: structured binary ResNets (Zhuang et al., CVPR 2019 / IJCV 2022)."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbnn.layers import GROUPNET_CONV, BaseAggregator, BinaryConv2d, with_num_bases
from mmbnn.layers.base_aggregation import SCALE_INITS, check_soft_gate
from mmbnn.layers.groupnet_conv import single_base
from mmbnn.registry import MODELS, build_with_channels
from ..utils.fp_init import DEFAULT_BASE_NOISE, load_full_precision
from .binary_resnet_blocks import BinaryBasicBlock, BinaryBottleneck
from .groupnet_stage import GroupNetStage
from .staged_backbone import FrozenStagesMixin

__all__ = ['GroupNetResNet', 'PooledConv2d', 'RealDownsampleConv2d', 'BPAC_DILATIONS',
           'BPAC_CODE_DILATIONS']

#: Group-Net's Binary Parallel Atrous Convolution (BPAC) rates for K = 5 bases, as the paper
#: describes BPAC (each base of a group at its own rate) and as the official segmentation code
#: lists them (``bohanzhuang/Group-Net-semantic-segmentation``,
#: ``encoding/models/resnet_binary_dilated.py``): stages 1-2 keep their dilation, stage 3 gives
#: the five bases rates 2..6 and stage 4 rates 6..10. Use with ``strides=(1, 2, 1, 1)`` (output
#: stride 8). mmbnn implements the paper's per-base rates. The official code does NOT run them:
#: its block builds its convs in ``for ratio in dilation: self.conv1 = nn.ModuleList([...])``, a
#: loop that overwrites the convs at every rate, so every base of stage 3 runs at rate 6 and every
#: base of stage 4 at rate 10 (in both 3x3 convs of every block). That behaviour is
#: :data:`BPAC_CODE_DILATIONS` with no ``base_dilations``.
BPAC_DILATIONS = (None, None, (2, 3, 4, 5, 6), (6, 7, 8, 9, 10))

#: What the official segmentation code runs for :data:`BPAC_DILATIONS` (see there): every base at
#: the stage's last rate, i.e. ``dilations=BPAC_CODE_DILATIONS`` and ``base_dilations=None``.
BPAC_CODE_DILATIONS = (1, 1, 6, 10)


class RealDownsampleConv2d(nn.Conv2d):
    """The real-valued 1x1 conv of the backbone's ``downsample='real'`` shortcut: a plain
    ``nn.Conv2d`` that also takes the K bases' shared input once when it holds K per-base
    downsamples as its groups (``shared_downsample=False``): ``forward(x, num_shared_bases=K)``
    equals ``forward(x.repeat(1, K, 1, 1))`` and runs as one dense conv (the grouped weight is a
    dense one over the shared input)."""

    def forward(self, x, num_shared_bases: Optional[int] = None):
        if num_shared_bases is None:
            return super().forward(x)
        if self.groups % num_shared_bases or self.padding_mode != 'zeros':
            return super().forward(x.repeat(1, num_shared_bases, 1, 1))
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups // num_shared_bases)


class PooledConv2d(RealDownsampleConv2d):
    """``conv1x1(avgpool(x))``: Bi-Real Net's real downsample shortcut. The conv keeps its
    ``weight`` key (``downsample.0.weight``), so full-precision weights still load into it."""

    def __init__(self, in_channels, out_channels, stride, groups=1):
        super().__init__(in_channels, out_channels, 1, groups=groups, bias=False)
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)

    def forward(self, x, num_shared_bases: Optional[int] = None):
        return super().forward(self.pool(x), num_shared_bases)


@MODELS.register_module()
class GroupNetResNet(FrozenStagesMixin, BaseModule):
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

    A group of K bases (group decomposition, K > 1), :class:`BinaryBasicBlock` ``layerI.J``::

        conv1, conv2   BinaryConv2d(K*C_in -> K*C_out, 3x3, groups=K): base k = group k
        bn1, bn2       BN(K*C_out): per base and channel
        downsample     (first block of a stage) nn.Sequential(conv, BN), shared by the K bases
                       (the default): conv = BinaryConv2d(C_in -> C_out, 1x1, stride), BN(C_out);
                       its C_out channels are added to every base (add_shortcut broadcasts).
                       shared_downsample=False: K per-base ones, BinaryConv2d(K*C_in -> K*C_out,
                       groups=K) + BN(K*C_out)
        aggregate      BaseAggregator: lambda (K,), soft gate g ((1, ) or (K, )) or None

        input x (C_in), own (K*C_in, the previous group's bases) or None
        x_k = x, or with a gate sigmoid(g) own_k + (1 - sigmoid(g)) x
        y1_k = BN1_k(ReLU(conv1_k(sign(x_k)))) + ds(x_k)        (x_k without a downsample)
        y2_k = BN2_k(ReLU(conv2_k(sign(y1_k)))) + y1_k
        x' = sum_k lambda_k y2_k,  own' = (y2_1 ... y2_K)

    Without a gate every ``x_k`` is ``x``: the block gets ``x`` once (``num_shared_bases=K``),
    the first conv runs as one dense conv and the shared downsample runs once, on C_in channels.
    With a gate the shared downsample runs on each base's input (K calls of the same conv and
    BN, as the official code calls its one ``downsample`` module in its loop over bases).

    The stem ends WITHOUT an activation by default (``stem_act_cfg=None``), as Group-Net's
    official code (conv -> max-pool -> BN), Bi-Real Net, Real-to-Binary and BiDet have it: after a
    ReLU every input of the first binary conv would be >= 0, sign() (with sign(0) = +1) would map
    all of it to +1, and that conv's output would be the same for every image. Module names follow
    torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``...),
    so full-precision checkpoints map onto every base.

    **Against the official code.** The reference is ``bohanzhuang/Group-Net-image-classification``
    (``model.py``: soft gates, no lambda, the released ImageNet model; ``model_ablation_1.py``:
    soft gates and lambda; ``model_ablation_2.py``: lambda, no gates; ``new_layers.py``: the
    binarizers; the first commit's ``model_no_scales_softgate.py``: neither). The defaults follow
    it except where listed; each departure names the switch that gives the code's behaviour.

    - Which variant: the default (learned lambda, no gates) is ``model_ablation_2.py`` and the
      paper's "Group-Net" rows; the released ``model.py`` is ``soft_gate=True,
      learn_scales=False``; ``model_ablation_1.py`` is ``soft_gate=True``.
    - Downsample: one binary 1x1 conv + BN per block, shared by the K bases, as the code
      (default). Ours, before: one per base, ``shared_downsample=False`` (K times the
      downsample's parameters and BOPs).
    - Soft gates: one scalar per group, initialised with ``torch.rand(1)``, into every group but
      the network's first (the code's ``add_gate=False`` reaches only ``layer1.0``), as the code
      (``soft_gate=True``). Ours, before: ``soft_gate='base'`` (one gate per base, starting at 0)
      and ``soft_gate_stage1=False`` (no gate into stage 1).
    - Lambda init (departure): ``U(0.5, 1.5) / K`` (``scale_init='mean'``, ours); the code's
      ``torch.rand(1)`` per base: ``scale_init='rand'``.
    - Weight scale (departure): one mean |w| per output channel (XNOR-Net's,
      :data:`~mmbnn.layers.GROUPNET_CONV`); the code's one mean |w| per layer of each base:
      ``conv_cfg=groupnet_conv_cfg(weight_scale='layer')``. No switch for the gradient: the code's
      ``Q_W`` passes the incoming gradient unchanged to w; ours (both scales) is alpha times it
      plus the exact gradient of the scale.
    - sign(0) (departure, no switch): +1 everywhere in mmbnn; the code's ``x.sign()`` gives 0 for
      an input or weight exactly at 0.
    - Initialisation (departure): convs ``kaiming_normal_(mode='fan_out')`` (torchvision's); the
      code keeps PyTorch's defaults (kaiming-uniform, ``a = sqrt(5)``):
      ``init_cfg=dict(type='Kaiming', layer='Conv2d', a=math.sqrt(5), mode='fan_in',
      nonlinearity='leaky_relu', distribution='uniform')``.
    - Not in the code (ours, or the paper's only): the bottleneck (the code's ``resnet50`` names
      a ``Bottleneck`` it never defines), depth 20 and the ``'cifar'`` / ``'deep'`` stems,
      ``decomposition='layer'``, ``dilations`` and BPAC (``base_dilations``: the paper's
      per-base rates; see :data:`BPAC_DILATIONS` for what the segmentation code runs instead),
      ``base_noise`` of the full-precision initialisation (ours), per-base thresholds
      (``groupnet_conv_cfg(base_shifts=True)``, :class:`~mmbnn.binarizers.BaseShiftSign`, ours),
      and the other downsample kinds (``'real'``, ``'avgpool'``: Bi-Real's, for the K = 1
      baselines). The code's two-stage recipe (``pretrain.py`` with tanh, ``finetune.py``) is
      the configs' (``configs/groupnet``).

    Args:
        depth (int): 18, 34 or 50 (four stages), or 20 (CIFAR ResNet-20: three stages of three
            basic blocks; use ``stem='cifar'`` and ``stem_channels=base_channels=16``).
        num_bases (int): K, the number of binary bases per group. Default: 5.
        decomposition (str): ``'group'`` or ``'layer'``. Default: ``'group'``.
        learn_scales (bool): Learn the per-base scales lambda; else average. Default: True.
        scale_init (str): How learned lambda start: ``'mean'`` (``U(0.5, 1.5) / K``, ours) or
            ``'rand'`` (``U(0, 1)``, the official code's ``torch.rand(1)``)
            (:class:`~mmbnn.layers.BaseAggregator`). Default: 'mean'.
        soft_gate (bool | str): Soft connections between groups (group decomposition, K > 1):
            base k's input is ``sigmoid(g) own_k + (1 - sigmoid(g)) x``. False: none. True or
            ``'block'`` (the official code's): one gate per group, ``torch.rand(1)`` at the
            start. ``'base'`` (ours): one gate per base, 0 at the start. Default: False.
        soft_gate_stage1 (bool): With soft gates, gate the groups of stage 1 after its first
            (the official code's). False (ours, before): no gate into stage 1. The network's
            first group has no gate either way (no previous bases). Default: True.
        downsample (str): Shortcut when the shape changes: ``'binary'`` (binary 1x1 conv + BN, as
            Group-Net's code), ``'real'`` (real 1x1 conv + BN) or ``'avgpool'`` (avgpool + real
            1x1 conv + BN, Bi-Real). Default: ``'binary'``.
        shared_downsample (bool): One downsample per block shared by the K bases (the official
            code's): a C_in -> C_out conv + BN whose output is added to every base; its binary
            conv has one base (binarizers that take ``num_bases`` get 1, per-base thresholds
            become one threshold starting at 0: :func:`~mmbnn.layers.groupnet_conv.single_base`).
            False: K per-base downsamples (a grouped K*C_in -> K*C_out conv + BN). No effect for
            K = 1 or ``decomposition='layer'``. Default: True.
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
            :data:`BPAC_DILATIONS`, ``(None, None, (2, 3, 4, 5, 6), (6, 7, 8, 9, 10))`` for K = 5
            (the official code runs every base at the last rate instead:
            ``dilations=BPAC_CODE_DILATIONS``, no ``base_dilations``).
            Needs ``decomposition='group'`` and a ``mmbnn.BinaryConv2d`` ``conv_cfg``; keys and
            shapes of the state dict are unchanged. Default: None (no BPAC).
        out_indices (Sequence[int]): Stages to output (negative counts from the end).
            Default: (-1, ), the last stage.
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem). Default: -1.
        norm_eval (bool): Keep BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): ``dict(type='Pretrained', checkpoint=...)`` copies a
            full-precision ResNet (torchvision or mmpretrain keys) into every base (a shared
            downsample gets the full-precision one as it is); base k > 0 of every per-base
            binary conv gets its copy perturbed by ``base_noise`` (default
            ``DEFAULT_BASE_NOISE``, ours) times the layer's std of Gaussian noise, so that the K
            bases are not K identical copies (:func:`~mmbnn.models.utils.expand_to_bases`).
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
                 soft_gate: Union[bool, str] = False,
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
                 shared_downsample: bool = True,
                 soft_gate_stage1: bool = True,
                 scale_init: str = 'mean',
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
        soft_gate = check_soft_gate(soft_gate)
        if scale_init not in SCALE_INITS:
            raise ValueError(f'scale_init must be one of {SCALE_INITS}, got '
                             f'scale_init={scale_init!r}')
        if soft_gate and decomposition != 'group':
            raise ValueError("soft_gate needs decomposition='group'")
        for name, value in (('shared_downsample', shared_downsample),
                            ('soft_gate_stage1', soft_gate_stage1)):
            if not isinstance(value, bool):
                raise TypeError(f'{name} must be a bool, got {name}={value!r}')
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
        # one downsample for the K bases of a block (K > 1 bases as conv groups only)
        self.shared_downsample = shared_downsample and k > 1
        one_base_cfg = single_base(conv_cfg)
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
                    ds = self._make_downsample(
                        downsample, in_ch, out_ch, stride, k,
                        one_base_cfg if self.shared_downsample else conv_cfg, norm_cfg,
                        self.shared_downsample)
                b = block(in_ch * k, out_ch * k, stride=stride, dilation=dilations[i], groups=k,
                          downsample=ds, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                          order=order, base_dilations=base_dilations[i])
                if decomposition == 'group' and num_bases > 1:
                    # the network's first group has no previous bases to mix
                    gated = soft_gate if (i > 0 or (j > 0 and soft_gate_stage1)) else None
                    b.aggregate = BaseAggregator(num_bases, learn_scales=learn_scales,
                                                 soft_gate=gated or False,
                                                 scale_init=scale_init)
                blocks.append(b)
                in_ch = out_ch
            self.add_module(f'layer{i + 1}', GroupNetStage(*blocks))
            self.res_layers.append(f'layer{i + 1}')
        self.feat_dim = in_ch
        if decomposition == 'group':  # the K bases are the convs' groups: run them per base
            for m in self.modules():  # where that is faster (BinaryConv2d.execution_bases)
                if isinstance(m, BinaryConv2d) and getattr(m, 'num_bases', None) != 1:
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
    def _make_downsample(kind: str, in_ch: int, out_ch: int, stride: int, k: int,
                         conv_cfg: dict, norm_cfg: dict, shared: bool) -> nn.Sequential:
        """``nn.Sequential(conv, norm)``: shared by the K bases, a conv C_in -> C_out (a binary
        one marked ``num_bases = 1``: it holds one base); else K per-base downsamples, a conv
        K*C_in -> K*C_out with K groups."""
        groups = 1 if shared else k
        cin, cout = (in_ch, out_ch) if shared else (in_ch * k, out_ch * k)
        if kind == 'binary':
            conv = build_conv_layer(conv_cfg, cin, cout, 1, stride=stride, groups=groups,
                                    bias=False)
            if shared:
                conv.num_bases = 1
        elif kind == 'real':
            conv = RealDownsampleConv2d(cin, cout, 1, stride=stride, groups=groups, bias=False)
        else:
            conv = PooledConv2d(cin, cout, stride, groups=groups)
        return nn.Sequential(conv, build_norm_layer(norm_cfg, cout)[1])

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

    def _frozen_modules(self) -> list:
        frozen = []
        if self.frozen_stages >= 0:
            frozen = [self.stem] if self.stem_type == 'deep' else [self.conv1, self.bn1]
        return frozen + [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]
