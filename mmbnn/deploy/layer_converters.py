"""Converters of mmbnn's binary layers (see :mod:`mmbnn.deploy.converters` for the registry)."""
import torch

from mmbnn.layers import (BaseAggregator, BinaryConv2d, BinaryLinear, MultiBaseBinaryConv2d,
                          MultiDilationBinaryConv2d)
from .converters import NotConvertible, register_converter
from .inference_layers import BitPackedConv2d, BitPackedLinear, BitPackedMultiBaseConv2d

__all__ = []


@register_converter(BinaryConv2d)
def convert_binary_conv(m: BinaryConv2d) -> BitPackedConv2d:
    """A binary conv (its groups may hold K bases; the caller says so per call with
    ``num_shared_bases``)."""
    return BitPackedConv2d.from_conv(m)


@register_converter(MultiDilationBinaryConv2d)
def convert_multi_dilation(m: MultiDilationBinaryConv2d) -> BitPackedConv2d:
    """BPAC: conv group ``k g + j`` (base k) with base k's dilation and padding."""
    k = m.num_bases
    g = m.groups // k
    paddings = [tuple(m.base_paddings[i // g]) for i in range(m.groups)]
    dilations = [(m.dilations[i // g], ) * 2 for i in range(m.groups)]
    return BitPackedConv2d.from_conv(m, groups=m.groups, paddings=paddings, dilations=dilations,
                                     num_bases=k)


@register_converter(MultiBaseBinaryConv2d)
def convert_multi_base(m: MultiBaseBinaryConv2d) -> BitPackedMultiBaseConv2d:
    """Layer-wise K-base conv: the bases as ``K g`` groups over the (shared) input, lambda_k
    folded into base k's scale and shift, summed after the kernel."""
    k = m.num_bases
    agg = m.aggregate
    if type(agg) is not BaseAggregator or agg.gate is not None:
        raise NotConvertible(f'aggregator {type(agg).__name__} with gates is not a plain '
                             'lambda-weighted sum')
    cout_total, cin_g = m.weight.shape[:2]
    if cout_total != k * m.out_channels or m.in_channels % cin_g:
        raise NotConvertible(f'weight {tuple(m.weight.shape)} is not the K={k} bases of a '
                             f'{m.in_channels} -> {m.out_channels} conv')
    groups = k * (m.in_channels // cin_g)
    conv = BitPackedConv2d.from_conv(m, groups=groups, num_bases=k)
    lam = agg.scales.detach().float().view(k, 1)
    with torch.no_grad():
        conv.scale.view(k, -1).mul_(lam)
        conv.shift.view(k, -1).mul_(lam)
    return BitPackedMultiBaseConv2d(conv, k)


@register_converter(BinaryLinear)
def convert_binary_linear(m: BinaryLinear) -> BitPackedLinear:
    return BitPackedLinear.from_linear(m)
