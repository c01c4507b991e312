"""The fused 1-bit engine for mmbnn's binary ResNets (:class:`~mmbnn.models.GroupNetResNet`:
BNN, XNOR-Net, Bi-Real Net, IR-Net and ReActNet-style ResNets, and Group-Net with K bases).

:func:`mmbnn.deploy.convert` replaces a whole binary ResNet backbone by
:class:`FusedBinaryResNet`, which runs it as the kernels want it rather than module by module:

- one memory layout, channels-last, from the stem to the last feature map: the float stem conv
  and the real-valued 1x1 downsamples run on oneDNN's channels-last path with their BN folded
  into the weights, the max-pool on torch's vectorized channels-last kernel;
- each binary conv is ONE kernel call whose epilogue does the unit's BN, activation (ReLU,
  PReLU, ReActNet's RPReLU), residual add and, for Group-Net, the lambda-weighted sum of the K
  bases; its input is the previous conv's output already packed into sign bits (the kernel emits
  them beside the float output, which the real-valued shortcut still needs), so activations are
  never packed in a separate pass between binary convs;
- the K bases of a Group-Net group that share their input read ONE packed copy of it (K copies
  with per-base thresholds) in one call.

Blocks the engine cannot express (soft gates between groups, the layer-wise K-base convs,
bottlenecks, an activation it does not know, a BN after the residual add) make the converter
decline (:class:`~mmbnn.deploy.converters.NotFusable`): the backbone is then converted layer by
layer, as any other model.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbnn.layers import BinaryConv2d, MultiDilationBinaryConv2d, RPReLU
from mmbnn.models.backbones.binary_resnet_blocks import BinaryBasicBlock
from mmbnn.models.backbones.groupnet_resnet import GroupNetResNet, PooledConv2d
from mmbnn.ops.bitpack import kernel_isa
from .converters import NotConvertible, NotFusable, find_converter, register_converter
from .inference_layers import BitPackedConv2d, InferenceOnly, bn_affine, pack_input

__all__ = ['FusedBinaryResNet', 'FusedBasicBlock', 'FloatConv', 'ChannelAffine']

_CL = torch.channels_last


class ChannelAffine(InferenceOnly):
    """``y = x * a + b`` per channel (a BN in eval mode that follows no conv)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer('a', torch.ones(channels))
        self.register_buffer('b', torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.b.view(1, -1, 1, 1), x, self.a.view(1, -1, 1, 1))


class FloatConv(InferenceOnly):
    """A real-valued conv with a following BN folded into its weight and bias, on channels-last
    tensors (oneDNN's fast path); ``pool`` (Bi-Real's average pool) runs first."""

    def __init__(self, conv: nn.Conv2d, bn: Optional[nn.Module] = None,
                 groups: Optional[int] = None, pool: Optional[nn.Module] = None):
        super().__init__()
        if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise NotFusable(f'a float conv with padding {conv.padding!r}/{conv.padding_mode}')
        w = conv.weight.detach().float()
        b = torch.zeros(w.shape[0]) if conv.bias is None else conv.bias.detach().float()
        if bn is not None:
            a, c = bn_affine(bn)
            w = w * a.view(-1, 1, 1, 1)
            b = b * a + c
        self.register_buffer('weight', w.contiguous(memory_format=_CL))
        self.register_buffer('bias', b.contiguous())
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.groups = conv.groups if groups is None else groups
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


def _act_parameters(act: nn.Module, channels: int):
    """``(pre, slope, post)`` of an activation module as the kernels' epilogue runs it
    (``y = v > 0 ? v : slope * v`` with ``v = x - pre``, then ``+ post``)."""
    if type(act) is nn.ReLU:
        return None, None, None
    if type(act) is nn.PReLU:
        return None, act.weight.detach().float().expand(channels).contiguous(), None
    if type(act) is nn.LeakyReLU:
        return None, torch.full((channels, ), float(act.negative_slope)), None
    if type(act) is RPReLU:
        return (-act.shift_in.bias.detach().float(),
                act.prelu.weight.detach().float().expand(channels).contiguous(),
                act.shift_out.bias.detach().float())
    raise NotFusable(f'activation {type(act).__name__} (the kernels run ReLU, PReLU, LeakyReLU '
                     'and RPReLU)')


def _binary_conv(conv: nn.Module, **kwargs) -> BitPackedConv2d:
    """The bit-packed form of a block's binary conv (its registered converter)."""
    if type(conv) not in (BinaryConv2d, MultiDilationBinaryConv2d):
        raise NotFusable(f'{type(conv).__name__} is not a plain binary conv')
    try:
        if kwargs:
            return BitPackedConv2d.from_conv(conv, **kwargs)
        return find_converter(conv)(conv)
    except NotConvertible as e:
        raise NotFusable(f'{type(conv).__name__}: {e}') from None


def _set_unit(c: BitPackedConv2d, order, act: Optional[nn.Module], bn: nn.Module) -> None:
    """Fold a unit's steps after the conv (``order`` of 'act', 'norm', 'add') into ``c``."""
    a, b = bn_affine(bn)
    acted = added = False
    for op in order:
        if op == 'norm':
            if added:
                raise NotFusable('a BN after the residual add')
            if acted:
                c.post_scale, c.post_shift = a.clone(), b.clone()
            else:
                c.scale.mul_(a)
                c.shift.mul_(a).add_(b)
        elif op == 'act':
            pre, slope, post = _act_parameters(act, c.out_channels)
            if added:
                c.act2, c.act2_pre, c.act2_slope, c.act2_post = True, pre, slope, post
            else:
                c.relu, c.act_pre, c.act_slope, c.act_post = True, pre, slope, post
            acted = True
        elif op == 'add':
            added = True
    if not added:
        raise NotFusable(f'order {tuple(order)} has no residual add')


def _input_spec(c: BitPackedConv2d, k: int):
    """How ``c`` packs its input when its K bases share it: ``(threshold, groups, repeat)``."""
    if c.threshold is None:
        return None, c.groups // k, 1
    if k == 1 or c._shares(k):
        return c.threshold[:c.in_channels // k].clone(), c.groups // k, 1
    return c.threshold.clone(), c.groups // k, k


def _same_spec(s1, s2) -> bool:
    (t1, g1, r1), (t2, g2, r2) = s1, s2
    if (g1, r1) != (g2, r2) or (t1 is None) != (t2 is None):
        return False
    return t1 is None or torch.equal(t1, t2)


class FusedBasicBlock(InferenceOnly):
    """A :class:`~mmbnn.models.backbones.BinaryBasicBlock` of K bases (K = 1: a single binary
    network) on the kernels: two calls, each conv with its unit's BN, activation and shortcut
    in the epilogue, the second summing the bases with lambda (Group-Net) and both emitting the
    sign bits the next binary conv reads.

    ``forward(x, bits)`` takes the block's input (channels-last floats, C channels: the bases'
    shared input) and, when the block before it emitted them, its bits packed as this block's
    first conv reads them; it returns ``(y, bits of y for the next block or None)``.
    """

    def __init__(self, conv1: BitPackedConv2d, conv2: BitPackedConv2d,
                 downsample: Optional[nn.Module], num_bases: int, ds_shares_bits: bool):
        super().__init__()
        self.conv1, self.conv2, self.downsample = conv1, conv2, downsample
        self.num_bases = num_bases
        self.ds_shares_bits = ds_shares_bits
        spec = _input_spec(conv1, num_bases)
        self.register_buffer('in_threshold', spec[0])
        self.in_groups, self.in_repeat = spec[1], spec[2]

    @classmethod
    def from_block(cls, block: nn.Module) -> 'FusedBasicBlock':
        if type(block) is not BinaryBasicBlock:
            raise NotFusable(f'{type(block).__name__} (the engine fuses basic blocks)')
        agg = getattr(block, 'aggregate', None)
        k = agg.num_bases if agg is not None else 1
        if agg is not None and agg.gate is not None:
            raise NotFusable('soft gates between groups')
        conv1 = _binary_conv(block.conv1, num_bases=k) if k > 1 and type(
            block.conv1) is BinaryConv2d else _binary_conv(block.conv1)
        conv1.num_bases = k
        conv2 = _binary_conv(block.conv2)
        _set_unit(conv1, block.order, getattr(block, 'act1', None), block.bn1)
        _set_unit(conv2, block.order, getattr(block, 'act2', None), block.bn2)
        # conv2's output holds the K bases: fold lambda into what reaches the sum
        if k > 1:
            if conv2.act2:
                raise NotFusable('an activation after the add, then a sum of bases')
            lam = agg.scales.detach().float().view(k, 1).expand(k, conv2.out_channels // k)
            lam = lam.reshape(-1).contiguous()
            if conv2.post_scale is not None:
                conv2.post_scale.mul_(lam)
                conv2.post_shift.mul_(lam)
            else:
                conv2.scale.mul_(lam)
                conv2.shift.mul_(lam)
            conv2.residual_scale = lam.clone()
            conv2.sum_bases = k
        # conv1 emits the bits conv2 reads (per base: conv2's groups)
        spec2 = _input_spec(conv2, 1)
        conv1.out_threshold, conv1.out_groups, conv1.out_repeat = spec2
        ds, shares = None, False
        if block.downsample is not None:
            dconv, dbn = block.downsample[0], block.downsample[1]
            shared = getattr(block, 'shared_downsample', False)
            kd = 1 if shared else k
            if isinstance(dconv, BinaryConv2d):
                ds = _binary_conv(dconv, num_bases=kd) if kd > 1 else _binary_conv(dconv)
                _set_affine(ds, dbn)
                shares = _same_spec(_input_spec(ds, kd), _input_spec(conv1, k))
                ds.num_bases = kd
            elif isinstance(dconv, nn.Conv2d) and len(block.downsample) == 2:
                groups = dconv.groups // kd if kd > 1 else dconv.groups
                pool = dconv.pool if isinstance(dconv, PooledConv2d) else None
                ds = FloatConv(dconv, dbn, groups=groups, pool=pool)
            else:
                raise NotFusable(f'downsample {type(dconv).__name__}')
        return cls(conv1, conv2, ds, k, shares)

    def pack(self, x: torch.Tensor, code: int) -> torch.Tensor:
        """This block's input bits, when the block before did not emit them."""
        return pack_input(x, self.in_threshold, self.in_groups, self.in_repeat, code)

    def forward(self, x: torch.Tensor, bits: Optional[torch.Tensor] = None,
                emit: bool = True) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        code = kernel_isa()
        x = x.contiguous(memory_format=_CL)
        if bits is None:
            bits = self.pack(x, code)
        ds = self.downsample
        if ds is None:
            identity = x
        elif isinstance(ds, BitPackedConv2d):
            dbits = bits if self.ds_shares_bits else ds.pack(x, ds.num_bases, code)
            identity = ds.run_packed(dbits, code=code)[0]
        else:
            identity = ds(x).contiguous(memory_format=_CL)
        out1, bits1 = self.conv1.run_packed(bits, 'float+bits', code, residual=identity)
        if not emit:
            return self.conv2.run_packed(bits1, 'float', code, residual=out1)[0], None
        y, ybits = self.conv2.run_packed(bits1, 'float+bits', code, residual=out1)
        return y, ybits

    def emit_for(self, nxt: Optional['FusedBasicBlock']) -> None:
        """Make conv2 emit the bits ``nxt`` reads (or none)."""
        if nxt is None:
            self.conv2.out_threshold, self.conv2.out_groups, self.conv2.out_repeat = None, 1, 1
        else:
            self.conv2.out_threshold = None if nxt.in_threshold is None else \
                nxt.in_threshold.clone()
            self.conv2.out_groups, self.conv2.out_repeat = nxt.in_groups, nxt.in_repeat


def _set_affine(c: BitPackedConv2d, bn: nn.Module) -> None:
    a, b = bn_affine(bn)
    c.scale.mul_(a)
    c.shift.mul_(a).add_(b)


def _fused_stem(m: GroupNetResNet) -> nn.Sequential:
    """The stem's modules in the order ``forward_stem`` runs them, each BN folded into the conv
    right before it (or kept as a channel affine where a max-pool sits between them)."""
    if m.stem_type == 'deep':
        ops = list(m.stem) + [m.maxpool]
    elif m.stem_act_cfg is None:
        ops = [m.conv1, m.maxpool, m.bn1]
    else:
        ops = [m.conv1, m.bn1, m.stem_act, m.maxpool]
    ops = [op for op in ops if not isinstance(op, nn.Identity)]
    out, i = [], 0
    while i < len(ops):
        op = ops[i]
        nxt = ops[i + 1] if i + 1 < len(ops) else None
        if isinstance(op, nn.Conv2d):
            if isinstance(nxt, _BatchNorm):
                out.append(FloatConv(op, nxt))
                i += 2
                continue
            out.append(FloatConv(op))
        elif isinstance(op, _BatchNorm):
            aff = ChannelAffine(op.num_features)
            aff.a, aff.b = bn_affine(op)
            out.append(aff)
        elif isinstance(op, (nn.ReLU, nn.MaxPool2d, nn.PReLU, nn.LeakyReLU, RPReLU)):
            out.append(op)
        else:
            raise NotFusable(f'stem module {type(op).__name__}')
        i += 1
    return nn.Sequential(*out)


class FusedBinaryResNet(InferenceOnly):
    """A :class:`~mmbnn.models.GroupNetResNet` on the fused engine (module docstring): the same
    input and ``out_indices`` features (channels-last tensors).

    Args:
        stem (nn.Sequential): The float stem (channels-last).
        blocks (list[FusedBasicBlock]): Every block, stage after stage.
        stage_ends (list[int]): The index of each stage's last block.
        out_indices (tuple[int]): The stages to return.
    """

    def __init__(self, stem: nn.Sequential, blocks: List[FusedBasicBlock],
                 stage_ends: List[int], out_indices):
        super().__init__()
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)
        self.stage_ends = list(stage_ends)
        self.out_indices = tuple(out_indices)
        for i, blk in enumerate(blocks):
            blk.emit_for(blocks[i + 1] if i + 1 < len(blocks) else None)

    @classmethod
    def from_backbone(cls, m: GroupNetResNet) -> 'FusedBinaryResNet':
        if m.decomposition != 'group':
            raise NotFusable('the layer-wise K-base decomposition')
        blocks, ends = [], []
        for name in m.res_layers:
            for block in getattr(m, name):
                blocks.append(FusedBasicBlock.from_block(block))
            ends.append(len(blocks) - 1)
        return cls(_fused_stem(m), blocks, ends, m.out_indices).eval()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x.float().contiguous(memory_format=_CL))
        outs, bits = [], None
        last = self.stage_ends[max(self.out_indices)] if self.out_indices else -1
        for i, blk in enumerate(self.blocks):
            x, bits = blk(x, bits, emit=i < last)
            if i in self.stage_ends and self.stage_ends.index(i) in self.out_indices:
                outs.append(x)
            if i == last:
                break
        return tuple(outs)


@register_converter(GroupNetResNet, engine=True)
def convert_binary_resnet(m: GroupNetResNet) -> FusedBinaryResNet:
    """mmbnn's binary ResNets as one fused engine (module docstring)."""
    return FusedBinaryResNet.from_backbone(m)
