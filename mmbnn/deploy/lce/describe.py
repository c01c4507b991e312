"""Our side of the LCE export: a trained model -> the neutral graph of :mod:`.graph`.

The model is walked module by module, each module type by its registered *describer*
(:data:`DESCRIBERS`, looked up as :func:`mmbnn.deploy.find_converter` looks up converters: by
exact type, or a base class while the subclass keeps its ``forward``). A describer writes the
nodes that compute what the module's ``forward`` computes; the binary layers' signs, scales and
thresholds are read with the converter's own helpers (:func:`mmbnn.deploy.binary_weight`,
:func:`mmbnn.deploy.sign_threshold`), so the export binarizes exactly as the bit-packed model does.
A module without a describer, or one LCE cannot express, raises :class:`NotExportable` naming the
module. A new module type registers its own::

    from mmbnn.deploy.lce import register_describer

    @register_describer(MyBlock)
    def _(d, m, name, x):          # d: the Describer, x: the name of the input value
        y = d.walk(m.conv, f'{name}.conv', x)
        return d.graph.add('relu', y, name)

The walk is checked, not trusted: :func:`describe` runs the graph (:func:`~.reference.run_graph`)
and the model on the same random input and raises if they differ beyond float rounding, so a
``forward`` that changed behind its describer cannot be exported silently.
"""
from typing import Callable, Dict, Optional, Tuple, Type

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbnn.deploy.converters import NotConvertible, _lookup, binary_weight, sign_threshold
from mmbnn.layers import (BaseAggregator, BinaryConv2d, BinaryLinear, LearnableBias,
                          MultiBaseBinaryConv2d, MultiDilationBinaryConv2d, RPReLU)
from mmbnn.models.backbones.binary_resnet_blocks import BinaryBasicBlock, BinaryBottleneck
from mmbnn.models.backbones.groupnet_resnet import (GroupNetResNet, PooledConv2d,
                                                    RealDownsampleConv2d)
from mmbnn.models.backbones.groupnet_stage import GroupNetStage
from .graph import Graph

__all__ = ['NotExportable', 'DESCRIBERS', 'register_describer', 'Describer', 'describe',
           'LCE_PAD_VALUES']

#: Padding values of a binary conv that LCE expresses (``pad_values`` of larq's QuantConv2D).
LCE_PAD_VALUES = (0.0, 1.0)

#: module type -> ``fn(describer, module, name, x, **kwargs) -> output value name(s)``.
DESCRIBERS: Dict[Type[nn.Module], Callable] = {}


class NotExportable(Exception):
    """A module the LCE export cannot express; the message names it and says why."""


def register_describer(*module_types: Type[nn.Module]):
    """Decorator: register ``fn(d, module, name, x, **kw)`` as the describer of the types."""

    def wrap(fn):
        for t in module_types:
            DESCRIBERS[t] = fn
        return fn

    return wrap


def _pair(v) -> list:
    return [int(v), int(v)] if isinstance(v, int) else [int(i) for i in v]


class Describer:
    """Walks a model and writes its graph (:meth:`walk` dispatches to the describers)."""

    def __init__(self, model: nn.Module, input_shape):
        self.model = model
        self.graph = Graph(input_shape)
        self.channels: Dict[str, int] = {'input': int(input_shape[1])}

    def refuse(self, name: str, module, reason: str):
        raise NotExportable(f'{name or "(model)"} ({type(module).__name__}): {reason}')

    def walk(self, module: nn.Module, name: str, x, **kwargs):
        fn = _lookup(DESCRIBERS, module)
        if fn is None:
            self.refuse(name, module, 'no LCE describer for this module type (register one '
                        'with mmbnn.deploy.lce.register_describer)')
        return fn(self, module, name, x, **kwargs)

    def add(self, op, inputs, source, channels: int, attrs=None, arrays=None) -> str:
        """``graph.add`` that also records the output's channel count."""
        out = self.graph.add(op, inputs, source, attrs, arrays)
        self.channels[out] = int(channels)
        return out

    def tile(self, x: str, times: int, source: str) -> str:
        return self.add('tile', x, source, self.channels[x] * times, dict(times=int(times)))

    def add_shortcut(self, out: str, shortcut: str, source: str) -> str:
        """``out + shortcut``; a C-channel shortcut goes to each of K bases (K C channels)."""
        c, kc = self.channels[shortcut], self.channels[out]
        if kc != c:
            if kc % c:
                raise NotExportable(f'{source}: shortcut of {c} channels added to {kc}')
            shortcut = self.tile(shortcut, kc // c, source)
        return self.add('add', [out, shortcut], source, kc)


def _np(t: torch.Tensor, dtype='float32'):
    return t.detach().cpu().numpy().astype(dtype)


# -- leaves ------------------------------------------------------------------------------------
def _conv_geometry(d, m, name):
    if getattr(m, 'padding_mode', 'zeros') != 'zeros':
        d.refuse(name, m, f'padding_mode={m.padding_mode!r}: LCE pads with a constant')
    if isinstance(m.padding, str):
        d.refuse(name, m, f'padding={m.padding!r}: give the padding as numbers')
    left, right, top, bottom = m._reversed_padding_repeated_twice
    if left != right or top != bottom:
        d.refuse(name, m, f'asymmetric padding {m.padding!r}')
    return dict(stride=_pair(m.stride), padding=[top, left], dilation=_pair(m.dilation))


@register_describer(BinaryConv2d)
def _binary_conv(d: Describer, m: BinaryConv2d, name: str, x: str,
                 num_shared_bases: Optional[int] = None):
    """A binary conv (K bases as its groups); ``num_shared_bases=K``: ``x`` is the bases'
    shared input (C channels), as :meth:`BinaryConv2d.forward_shared`."""
    geometry = _conv_geometry(d, m, name)
    if m.pad_value not in LCE_PAD_VALUES and any(geometry['padding']):
        d.refuse(name, m, f'pad_value={m.pad_value}: LCE pads a binary input with 0 or +1 only')
    try:
        threshold = sign_threshold(m.act_binarizer, m.in_channels)
        signs, scale = binary_weight(m)
    except NotConvertible as e:
        d.refuse(name, m, str(e))
    groups, k = m.groups, int(num_shared_bases or 1)
    if k > 1:
        if groups % k or d.channels[x] * k != m.in_channels:
            d.refuse(name, m, f'{d.channels[x]} shared input channels do not make K={k} bases '
                     f'of {m.in_channels}')
        if m.shares_input():  # one dense conv over the shared input (forward_shared)
            groups //= k
            if threshold is not None:
                threshold = threshold[:m.in_channels // k]
        else:
            x = d.tile(x, k, name)
    attrs = dict(geometry, groups=int(groups), pad_value=float(m.pad_value),
                 act_binarizer=type(m.act_binarizer).__name__,
                 weight_binarizer=type(m.weight_binarizer).__name__,
                 bases=int(getattr(m, 'execution_bases', 1) or 1))
    arrays = dict(signs=_np(signs, 'int8'), scale=_np(scale),
                  threshold=None if threshold is None else _np(threshold),
                  bias=None if m.bias is None else _np(m.bias))
    return d.add('bconv2d', x, name, m.out_channels, attrs, arrays)


@register_describer(nn.Conv2d, RealDownsampleConv2d)
def _float_conv(d: Describer, m: nn.Conv2d, name: str, x: str,
                num_shared_bases: Optional[int] = None):
    """A float conv; with ``num_shared_bases=K`` (RealDownsampleConv2d) over the shared
    input."""
    geometry = _conv_geometry(d, m, name)
    groups = m.groups
    if num_shared_bases:
        if groups % num_shared_bases == 0:
            groups //= num_shared_bases
        else:
            x = d.tile(x, num_shared_bases, name)
    arrays = dict(weight=_np(m.weight), bias=None if m.bias is None else _np(m.bias))
    return d.add('conv2d', x, name, m.out_channels, dict(geometry, groups=int(groups)), arrays)


@register_describer(PooledConv2d)
def _pooled_conv(d: Describer, m: PooledConv2d, name: str, x: str,
                 num_shared_bases: Optional[int] = None):
    """Bi-Real's downsample: avgpool then the 1x1 conv."""
    x = d.walk(m.pool, f'{name}.pool', x)
    return _float_conv(d, m, name, x, num_shared_bases)


@register_describer(_BatchNorm)
def _batchnorm(d: Describer, m: _BatchNorm, name: str, x: str):
    if m.running_mean is None or m.running_var is None:
        d.refuse(name, m, 'BN without running statistics (track_running_stats=False)')
    c = m.running_mean.numel()
    ones, zeros = torch.ones(c), torch.zeros(c)
    arrays = dict(mean=_np(m.running_mean), var=_np(m.running_var),
                  weight=_np(m.weight if m.weight is not None else ones),
                  bias=_np(m.bias if m.bias is not None else zeros))
    return d.add('batchnorm', x, name, c, dict(eps=float(m.eps)), arrays)


@register_describer(nn.ReLU)
def _relu(d, m, name, x):
    return d.add('relu', x, name, d.channels[x])


@register_describer(nn.Identity, nn.Dropout)
def _identity(d, m, name, x):
    return x


@register_describer(nn.PReLU)
def _prelu(d, m, name, x):
    c = d.channels[x]
    slope = m.weight.detach().reshape(-1)
    if slope.numel() == 1:
        slope = slope.expand(c)
    return d.add('prelu', x, name, c, arrays=dict(slope=_np(slope)))


@register_describer(LearnableBias)
def _learnable_bias(d, m, name, x):
    return d.add('bias_add', x, name, d.channels[x], arrays=dict(bias=_np(m.bias)))


@register_describer(RPReLU)
def _rprelu(d, m, name, x):
    x = _learnable_bias(d, m.shift_in, f'{name}.shift_in', x)
    x = _prelu(d, m.prelu, f'{name}.prelu', x)
    return _learnable_bias(d, m.shift_out, f'{name}.shift_out', x)


@register_describer(nn.MaxPool2d)
def _maxpool(d, m, name, x):
    if m.return_indices:
        d.refuse(name, m, 'return_indices=True')
    attrs = dict(kernel=_pair(m.kernel_size), stride=_pair(m.stride or m.kernel_size),
                 padding=_pair(m.padding), dilation=_pair(m.dilation), ceil_mode=m.ceil_mode)
    return d.add('maxpool2d', x, name, d.channels[x], attrs)


@register_describer(nn.AvgPool2d)
def _avgpool(d, m, name, x):
    if m.divisor_override is not None:
        d.refuse(name, m, 'divisor_override')
    attrs = dict(kernel=_pair(m.kernel_size), stride=_pair(m.stride or m.kernel_size),
                 padding=_pair(m.padding), ceil_mode=m.ceil_mode,
                 count_include_pad=m.count_include_pad)
    return d.add('avgpool2d', x, name, d.channels[x], attrs)


@register_describer(nn.AdaptiveAvgPool2d)
def _adaptive_avgpool(d, m, name, x):
    if _pair(m.output_size if m.output_size is not None else 1) != [1, 1]:
        d.refuse(name, m, f'output_size={m.output_size}: only global pooling (1, 1)')
    return d.add('global_avgpool', x, name, d.channels[x])


@register_describer(nn.Linear)
def _linear(d, m, name, x):
    arrays = dict(weight=_np(m.weight), bias=None if m.bias is None else _np(m.bias))
    return d.add('linear', x, name, m.out_features, arrays=arrays)


@register_describer(BinaryLinear)
def _binary_linear(d, m, name, x):
    d.refuse(name, m, 'a binary linear layer: LCE 0.16 has no binary dense op (only '
             'LceBconv2d); keep the classifier full precision')


@register_describer(MultiDilationBinaryConv2d)
def _multi_dilation(d, m, name, x, num_shared_bases=None):
    d.refuse(name, m, 'per-base dilation rates (BPAC): an LCE conv has one dilation; not '
             'exported')


@register_describer(MultiBaseBinaryConv2d)
def _multi_base(d, m, name, x):
    d.refuse(name, m, "Group-Net's layer-wise decomposition is not exported (the group-wise "
             'one is)')


@register_describer(nn.Sequential)
def _sequential(d, m, name, x):
    for child_name, child in m.named_children():
        x = d.walk(child, f'{name}.{child_name}', x)
    return x


# -- Group-Net / binary ResNet structure -------------------------------------------------------
@register_describer(BaseAggregator)
def _aggregate(d, m, name, x):
    k = m.num_bases
    return d.add('aggregate', x, name, d.channels[x] // k, dict(bases=int(k)),
                 dict(scales=_np(m.scales.reshape(-1))))


def _gate_mix(d, m: BaseAggregator, name, x, own):
    gate = torch.sigmoid(m.gate.detach().float().reshape(-1)).expand(m.num_bases)
    return d.add('gate_mix', [x, own], f'{name}.gate', d.channels[own],
                 dict(bases=int(m.num_bases)), dict(gate=_np(gate)))


def _unit(d, block, index, name, x, shortcut, num_shared_bases=None):
    """``conv{index}`` then the block's order of norm / act / add (``unit_post``)."""
    conv = getattr(block, f'conv{index}')
    kw = {} if num_shared_bases is None else dict(num_shared_bases=num_shared_bases)
    out = d.walk(conv, f'{name}.conv{index}', x, **kw)
    for op in block.order:
        if op == 'norm':
            out = d.walk(getattr(block, f'bn{index}'), f'{name}.bn{index}', out)
        elif op == 'act':
            out = d.walk(getattr(block, f'act{index}'), f'{name}.act{index}', out)
        elif shortcut is not None:
            out = d.add_shortcut(out, shortcut, f'{name}.add{index}')
    return out


def _block_identity(d, block, name, x, num_shared_bases):
    """As ``_BinaryBlock._identity``: no downsample, one shared by the K bases (run once on
    their shared input, or on each base's input and concatenated), or K per-base ones."""
    if block.downsample is None:
        return x
    if getattr(block, 'shared_downsample', False):
        if num_shared_bases is not None:
            return d.walk(block.downsample, f'{name}.downsample', x)
        k, c = block.groups, d.channels[x] // block.groups
        parts = [d.walk(block.downsample, f'{name}.downsample',
                        d.add('slice', x, f'{name}.base{i}', c, dict(start=i * c, stop=(i + 1) * c)))
                 for i in range(k)]
        return d.add('concat', parts, f'{name}.downsample', sum(d.channels[p] for p in parts))
    if num_shared_bases is None:
        return d.walk(block.downsample, f'{name}.downsample', x)
    conv, *rest = block.downsample
    out = d.walk(conv, f'{name}.downsample.0', x, num_shared_bases=num_shared_bases)
    for i, m in enumerate(rest, 1):
        out = d.walk(m, f'{name}.downsample.{i}', out)
    return out


@register_describer(BinaryBasicBlock)
def _basic_block(d, m, name, x, num_shared_bases=None):
    out = _unit(d, m, 1, name, x, _block_identity(d, m, name, x, num_shared_bases),
                num_shared_bases)
    return _unit(d, m, 2, name, out, out)


@register_describer(BinaryBottleneck)
def _bottleneck(d, m, name, x, num_shared_bases=None):
    identity = _block_identity(d, m, name, x, num_shared_bases)
    out = _unit(d, m, 1, name, x, None, num_shared_bases)
    out = _unit(d, m, 2, name, out, out if m.stride == 1 else None)
    return _unit(d, m, 3, name, out, identity)


@register_describer(GroupNetStage)
def _stage(d, m, name, x, own=None):
    """As :meth:`GroupNetStage.forward`: returns ``(x, own)``."""
    for i, block in enumerate(m):
        bname = f'{name}.{i}'
        agg = getattr(block, 'aggregate', None)
        if agg is None:
            x, own = d.walk(block, bname, x), None
            continue
        if agg.gate is None or own is None:
            bases = d.walk(block, bname, x, num_shared_bases=agg.num_bases)
        else:
            bases = d.walk(block, bname, _gate_mix(d, agg, f'{bname}.aggregate', x, own))
        x, own = d.walk(agg, f'{bname}.aggregate', bases), bases
    return x, own


@register_describer(GroupNetResNet)
def _groupnet_resnet(d, m, name, x):
    """As :meth:`GroupNetResNet.forward`: the stem, the stages, the outputs of ``out_indices``."""
    p = f'{name}.' if name else ''
    if m.stem_type == 'deep':
        x = d.walk(m.maxpool, f'{p}maxpool', d.walk(m.stem, f'{p}stem', x))
    else:
        x = d.walk(m.conv1, f'{p}conv1', x)
        if m.stem_act_cfg is None:
            x = d.walk(m.bn1, f'{p}bn1', d.walk(m.maxpool, f'{p}maxpool', x))
        else:
            x = d.walk(m.stem_act, f'{p}stem_act', d.walk(m.bn1, f'{p}bn1', x))
            x = d.walk(m.maxpool, f'{p}maxpool', x)
    outs, own = [], None
    for i, layer in enumerate(m.res_layers):
        x, own = d.walk(getattr(m, layer), f'{p}{layer}', x, own=own)
        if i in m.out_indices:
            outs.append(x)
    return tuple(outs)


def _register_mmpretrain() -> None:
    """Describers of mmpretrain's classifier, neck and head (imported only when used)."""
    try:
        from mmpretrain.models import GlobalAveragePooling, ImageClassifier, LinearClsHead
    except ImportError:  # pragma: no cover - mmpretrain is a dependency of classification
        return
    if ImageClassifier in DESCRIBERS:
        return

    @register_describer(ImageClassifier)
    def _classifier(d, m, name, x):
        feats = d.walk(m.backbone, 'backbone', x)
        if m.with_neck:
            feats = d.walk(m.neck, 'neck', feats)
        if not m.with_head:
            d.refuse(name, m, 'a classifier without a head')
        return d.walk(m.head, 'head', feats)

    @register_describer(GlobalAveragePooling)
    def _gap(d, m, name, feats):
        if not isinstance(m.gap, nn.AdaptiveAvgPool2d):
            d.refuse(name, m, 'only the 2-D global average pooling (dim=2)')
        feats = feats if isinstance(feats, tuple) else (feats, )
        return tuple(d.walk(m.gap, f'{name}.gap', f) for f in feats)

    @register_describer(LinearClsHead)
    def _linear_head(d, m, name, feats):
        x = feats[-1] if isinstance(feats, tuple) else feats
        return d.walk(m.fc, f'{name}.fc', x)


# -- entry -------------------------------------------------------------------------------------
def _normalization(model: nn.Module) -> Optional[Tuple[torch.Tensor, torch.Tensor, bool]]:
    """``(mean, std, flip)`` of an mmengine model's data preprocessor, or None."""
    pre = getattr(model, 'data_preprocessor', None)
    if pre is None or not getattr(pre, '_enable_normalize', False):
        return None
    mean = pre.mean.detach().reshape(-1).float()
    # mmpretrain's ClsDataPreprocessor: to_rgb; mmengine's ImgDataPreprocessor: _channel_conversion
    flip = bool(getattr(pre, 'to_rgb', False) or getattr(pre, '_channel_conversion', False))
    return mean, pre.std.detach().reshape(-1).float(), flip and mean.numel() == 3


def describe(model: nn.Module, input_shape=(1, 3, 224, 224), normalize: bool = True,
             check: bool = True, atol: float = 1e-3) -> Tuple[dict, dict]:
    """The neutral graph of ``model`` (eval mode) and its arrays.

    Args:
        model (nn.Module): A trained model: an mmpretrain ``ImageClassifier`` of mmbnn's
            binary ResNets, or any module whose parts have describers.
        input_shape (Sequence[int]): ``(N, C, H, W)`` the exported model takes. Default:
            ``(1, 3, 224, 224)``.
        normalize (bool): Put the data preprocessor's ``(x - mean) / std`` (and its BGR -> RGB
            flip) into the graph, so the exported model takes images as the preprocessor does
            (0-255). Default: True.
        check (bool): Run the graph (:func:`~.reference.run_graph`) and the model on one random
            input and raise ``RuntimeError`` if the outputs differ by more than ``atol`` relative
            to their magnitude. Default: True.
        atol (float): The tolerance of ``check``. Default: 1e-3.

    Returns:
        tuple[dict, dict]: The graph (JSON-able) and its arrays (name -> ndarray).

    Raises:
        NotExportable: A module LCE cannot express (the message names it).
    """
    from .reference import run_graph, shapes_of
    _register_mmpretrain()
    was_training = model.training
    model.eval()
    try:
        d = Describer(model, input_shape)
        x = 'input'
        norm = _normalization(model) if normalize else None
        if norm is not None:
            mean, std, flip = norm
            x = d.add('normalize', x, 'data_preprocessor', d.channels[x],
                      dict(flip_channels=flip), dict(mean=_np(mean), std=_np(std)))
        out = d.walk(model, '', x)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        d.graph.outputs = outs
        graph, arrays = d.graph.to_dict(), dict(d.graph.arrays)
        graph['summary']['model_binary_layers'] = sum(
            1 for m in model.modules() if isinstance(m, (BinaryConv2d, BinaryLinear)))
        shapes = shapes_of(graph, arrays)
        for node in graph['nodes']:
            node['shape'] = shapes[node['name']]
        if check:
            _check(model, graph, arrays, norm, atol)
    finally:
        model.train(was_training)
    return graph, arrays


def model_inputs(model: nn.Module, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """What ``model(..., mode='tensor')`` takes for the raw images ``x`` the graph takes: ``x``
    through the model's own data preprocessor (its normalization and BGR -> RGB flip, as the
    graph has them with ``normalize``), or ``x`` itself."""
    if not normalize or _normalization(model) is None:
        return x
    with torch.no_grad():
        return model.data_preprocessor(dict(inputs=list(x)), False)['inputs']


def model_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's raw output (logits for a classifier) for preprocessed inputs ``x``."""
    from mmbnn.deploy import example_forward
    with torch.no_grad():
        out = example_forward(model, x)()
    return out[-1] if isinstance(out, (tuple, list)) else out


def _check(model, graph, arrays, norm, atol):
    from .reference import run_graph
    gen = torch.Generator().manual_seed(0)
    shape = graph['input']['shape']
    x = torch.randn(*shape, generator=gen)
    if norm is not None:  # raw images around the data set's mean and spread
        x = x * norm[1].view(1, -1, 1, 1) + norm[0].view(1, -1, 1, 1)
    want = model_forward(model, model_inputs(model, x, norm is not None))
    got = run_graph(graph, arrays, x)[-1]
    if got.shape != want.shape:
        raise RuntimeError(f'the described graph gives {tuple(got.shape)}, the model '
                           f'{tuple(want.shape)}')
    err = (got - want).abs().max().item() / max(want.abs().max().item(), 1e-12)
    if not err <= atol:
        raise RuntimeError(f'the described graph differs from the model by {err:.3g} (relative '
                           f'to its largest output; tolerance {atol}): a describer does not '
                           'match its module\'s forward')
