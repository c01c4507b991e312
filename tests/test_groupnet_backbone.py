"""GroupNetResNet: the K bases equal K separate binary networks summed with lambda (against an
independent reference); the shared-input execution; soft connections; layer-wise decomposition
and per-base thresholds; the stem, +1 padding and weight scales of the paper; full-precision
initialisation and base diversity; the usual OpenMMLab backbone arguments; build-time errors."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import ROOT
from mmbnn.analysis import base_agreement, mean_base_agreement
from mmbnn.layers import BinaryConv2d, MultiBaseBinaryConv2d, explicit_bases, groupnet_conv_cfg
from mmbnn.models.backbones import BinaryBasicBlock, GroupNetResNet
from mmbnn.models.backbones.groupnet_resnet import PooledConv2d, RealDownsampleConv2d
from mmbnn.models.utils import expand_to_bases
from mmbnn.registry import MODELS

SMALL = dict(stem_channels=8, base_channels=8)


def small(**kwargs):
    torch.manual_seed(0)
    return GroupNetResNet(**dict(SMALL, **kwargs))


def randomize_bn(model):
    """Non-trivial BN statistics and affine parameters, so that bases differ everywhere."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.5, 0.5, generator=g)


def test_group_block_equals_k_separate_blocks_summed():
    """A block with groups=K over K*C channels computes K independent binary blocks."""
    k, c = 3, 8
    torch.manual_seed(0)
    singles = [BinaryBasicBlock(c, c, conv_cfg=dict(type='mmbnn.BinaryConv2d',
                                                    act_binarizer=dict(type='ApproxSign')))
               for _ in range(k)]
    grouped = BinaryBasicBlock(k * c, k * c, groups=k,
                               conv_cfg=dict(type='mmbnn.BinaryConv2d',
                                             act_binarizer=dict(type='ApproxSign')))
    for m in singles:
        randomize_bn(m)
    grouped.load_state_dict({key: torch.cat([m.state_dict()[key] for m in singles])
                             if singles[0].state_dict()[key].dim() else
                             singles[0].state_dict()[key] for key in grouped.state_dict()})
    for m in singles + [grouped]:
        m.eval()
    x = torch.randn(2, c, 6, 6)
    out = grouped(x.repeat(1, k, 1, 1))
    expected = torch.cat([m(x) for m in singles], dim=1)
    torch.testing.assert_close(out, expected)


def _sign(x):
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _bconv(x, w, stride=1, padding=0, pad_value=1.0):
    """Reference binary conv: sign(x) padded with ``pad_value``, sign(w) * mean|w| per output
    channel (XNOR)."""
    wb = w.abs().mean(dim=(1, 2, 3), keepdim=True) * _sign(w)
    return F.conv2d(F.pad(_sign(x), [padding] * 4, value=pad_value), wb, stride=stride)


def _bn(x, bn, rows):
    """Reference eval-mode BN over the channels ``rows`` of ``bn``."""
    v = lambda t: t[rows].view(1, -1, 1, 1)  # noqa: E731
    return (x - v(bn.running_mean)) / torch.sqrt(v(bn.running_var) + bn.eps) * v(bn.weight) + \
        v(bn.bias)


def reference_groupnet(model, x):
    """Group-Net ResNet-18 (K bases, group decomposition, binary downsample) computed base by
    base from the module parameters only, as the official code's ``BasicBlock.forward``
    (``bohanzhuang/Group-Net-image-classification``, ``model.py``): stem conv -> max-pool -> BN;
    per group and base k, x_k = x, or with a gate sigmoid(g) own_k + (1 - sigmoid(g)) x;
    y1 = BN(ReLU(bconv(x_k, W1_k))) + ds(x_k), y2 = BN(ReLU(bconv(y1, W2_k))) + y1, where ds is
    the block's one downsample (shared) or base k's; then x = sum_k lambda_k y2_k, own = (y2_k)."""
    k = model.num_bases
    h = F.conv2d(x, model.conv1.weight, stride=2, padding=3)
    h = _bn(F.max_pool2d(h, 3, 2, 1), model.bn1, slice(None))
    own = None
    for name in model.res_layers:
        for block in getattr(model, name):
            c = block.conv1.weight.shape[0] // k
            stride = block.conv1.stride[0]
            agg = block.aggregate
            outs = []
            for b in range(k):
                rows = slice(b * c, (b + 1) * c)
                xb = h
                if agg.gate is not None and own is not None:
                    g = torch.sigmoid(agg.gate[b if agg.gate.numel() == k else 0])
                    xb = g * own[b] + (1 - g) * h
                ds = xb
                if block.downsample is not None:
                    conv, bn = block.downsample
                    ds_rows = slice(None) if conv.weight.shape[0] == c else rows  # shared
                    ds = _bn(_bconv(xb, conv.weight[ds_rows], stride), bn, ds_rows)
                y1 = _bn(F.relu(_bconv(xb, block.conv1.weight[rows], stride, 1)), block.bn1,
                         rows) + ds
                y2 = _bn(F.relu(_bconv(y1, block.conv2.weight[rows], 1, 1)), block.bn2,
                         rows) + y1
                outs.append(y2)
            h = sum(agg.scales[b] * outs[b] for b in range(k))
            own = outs
    return h


@pytest.mark.parametrize('kwargs', [
    dict(), dict(shared_downsample=False), dict(soft_gate=True),
    dict(soft_gate=True, shared_downsample=False),
    dict(soft_gate='base', soft_gate_stage1=False)])
def test_backbone_matches_an_independent_reference(kwargs):
    """The grouped / dense execution equals Group-Net computed base by base with plain ops, as
    the official code computes it: shared or per-base downsamples, with and without soft
    gates."""
    model = small(depth=18, num_bases=3, **kwargs).eval()
    randomize_bn(model)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('aggregate.gate'):
                p.copy_(torch.randn(p.shape, generator=g) * 2)  # away from the initial values
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[-1], reference_groupnet(model, x))


@pytest.mark.parametrize('kwargs', [
    dict(), dict(downsample='avgpool'), dict(downsample='real'), dict(depth=50, num_bases=2),
    dict(shared_downsample=False), dict(shared_downsample=False, downsample='avgpool'),
    dict(shared_downsample=False, downsample='real'),
    dict(shared_downsample=False, depth=50, num_bases=2),
    dict(base_dilations=(None, None, (1, 2, 3), (2, 3, 4)), strides=(1, 2, 1, 1)),
    dict(conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='BaseShiftSign'),
                       weight_binarizer=dict(type='LayerScaleWeight'), pad_value=1.0))])
def test_shared_input_path_equals_repeated_input(kwargs):
    """Blocks given the bases' shared input once (one dense conv) compute what the grouped conv
    over the input repeated K times computes, forward and backward."""
    kwargs = dict(dict(num_bases=3), **kwargs)
    # float64: in float32 the two summation orders differ by 1e-7, which the binarizers'
    # surrogate gradients (discontinuous at |x| = 1) can turn into visible gradient differences
    # through 50 layers
    model = small(out_indices=(0, 1, 2, 3), **kwargs).eval().double()
    randomize_bn(model)
    x = torch.randn(2, 3, 32, 32, requires_grad=True, dtype=torch.float64)
    shared = model(x)
    grads = torch.autograd.grad(sum(o.sum() for o in shared), [x] + list(model.parameters()))

    def repeated(stage, h, own=None):
        for block in stage:
            bases = block(block.aggregate.expand(h, own))
            h, own = block.aggregate(bases), bases
        return h, own

    h, outs = model.forward_stem(x), []
    for name in model.res_layers:
        h, _ = repeated(getattr(model, name), h)
        outs.append(h)
    for a, b in zip(shared, outs):
        torch.testing.assert_close(a, b)
    ref = torch.autograd.grad(sum(o.sum() for o in outs), [x] + list(model.parameters()))
    for a, b in zip(grads, ref):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('weight', ['XNORWeight', 'LayerScaleWeight', 'IRNetWeight'])
def test_per_base_execution_equals_one_conv(weight):
    """Weight-bound convs run base by base (binarized per base, K convs): the same values and
    gradients as one grouped conv over the whole weight (execution_bases = 1)."""
    conv_cfg = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                    weight_binarizer=dict(type=weight), pad_value=1.0)
    model = small(num_bases=3, conv_cfg=conv_cfg).double().eval()
    randomize_bn(model)
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    # the K-base convs; the shared downsamples hold one base
    assert {m.execution_bases for m in convs if getattr(m, 'num_bases', None) != 1} == {3}
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    calls = []
    handles = [m.register_forward_hook(lambda mod, i, o: calls.append(mod._per_base(i[0])))
               for m in convs]
    out = model(x)[-1]
    for h in handles:
        h.remove()
    assert any(calls) and not all(calls)  # layer 4 per base, layer 1 as one conv
    grads = torch.autograd.grad(out.sum(), list(model.parameters()))
    for m in convs:
        m.execution_bases = 1
    ref = model(x)[-1]
    torch.testing.assert_close(out, ref)
    for a, b in zip(grads, torch.autograd.grad(ref.sum(), list(model.parameters()))):
        torch.testing.assert_close(a, b)


def test_soft_gate_mixes_own_and_aggregated_inputs():
    """The official code's soft connection (``model.py``): ONE gate per group, into every group
    but the network's first (its ``add_gate=False`` reaches only ``layer1.0``), starting at
    ``torch.rand(1)``; base k's input is sigmoid(g) own_k + (1 - sigmoid(g)) x."""
    model = small(depth=18, num_bases=2, soft_gate=True).eval()
    blocks = [b for name in model.res_layers for b in getattr(model, name)]
    assert blocks[0].aggregate.gate is None
    gated = blocks[1:]
    assert all(b.aggregate.gate_kind == 'block' and b.aggregate.gate.shape == (1, )
               for b in gated)
    assert all(0 <= float(b.aggregate.gate) < 1 for b in gated)  # torch.rand(1)
    assert len({float(b.aggregate.gate) for b in gated}) == len(gated)
    agg = model.layer1[1].aggregate  # stage 1 after its first group is gated too
    with torch.no_grad():
        agg.gate.fill_(-0.7)
    x, own = torch.randn(2, 4, 3, 3), torch.randn(2, 8, 3, 3)
    mixed = agg.expand(x, own)
    s = torch.sigmoid(torch.tensor(-0.7))
    for base in range(2):
        torch.testing.assert_close(mixed[:, 4 * base:4 * (base + 1)],
                                   s * own[:, 4 * base:4 * (base + 1)] + (1 - s) * x)
    # gates change the output and receive gradients
    out = model(torch.randn(2, 3, 32, 32))[-1]
    out.sum().backward()
    for b in gated:
        assert b.aggregate.gate.grad is not None and b.aggregate.gate.grad.abs().sum() > 0


def test_soft_gate_per_base_switch():
    """``soft_gate='base'`` (ours): one gate per base starting at 0; with
    ``soft_gate_stage1=False`` none into stage 1."""
    model = small(depth=18, num_bases=2, soft_gate='base', soft_gate_stage1=False).eval()
    assert all(b.aggregate.gate is None for b in model.layer1)
    gated = [b for name in model.res_layers[1:] for b in getattr(model, name)]
    assert all(b.aggregate.gate_kind == 'base' and torch.equal(b.aggregate.gate,
                                                               torch.zeros(2)) for b in gated)
    agg = gated[0].aggregate
    with torch.no_grad():
        agg.gate.copy_(torch.tensor([0.3, -1.2]))
    x, own = torch.randn(2, 4, 3, 3), torch.randn(2, 8, 3, 3)
    mixed = agg.expand(x, own)
    for base, g in enumerate([0.3, -1.2]):
        s = torch.sigmoid(torch.tensor(g))
        torch.testing.assert_close(mixed[:, 4 * base:4 * (base + 1)],
                                   s * own[:, 4 * base:4 * (base + 1)] + (1 - s) * x)
    assert small(num_bases=2, soft_gate='base').layer1[1].aggregate.gate.shape == (2, )


def test_soft_gate_and_lambda_init_follow_the_seed():
    """The gates' and lambda's random starts come from torch's global generator, so mmengine's
    ``randomness=dict(seed=...)`` (set_random_seed) fixes them; ``scale_init='rand'`` is the
    official code's U(0, 1) per base, ``'mean'`` (ours) U(0.5, 1.5) / K."""
    from mmengine.runner import set_random_seed

    def build(seed, **kwargs):
        set_random_seed(seed)
        m = GroupNetResNet(**dict(SMALL, num_bases=4, soft_gate=True, **kwargs))
        return torch.cat([b.aggregate.gate.detach() for b in m.layer2] +
                         [m.layer2[0].aggregate.scales.detach()])

    torch.testing.assert_close(build(3), build(3), rtol=0, atol=0)
    assert not torch.equal(build(3), build(4))
    rand = torch.stack([build(s, scale_init='rand')[-4:] for s in range(20)])
    mean = torch.stack([build(s)[-4:] for s in range(20)])
    assert 0 <= float(rand.min()) and float(rand.max()) < 1 and float(rand.max()) > 0.5
    assert 0.5 / 4 <= float(mean.min()) and float(mean.max()) <= 1.5 / 4
    with pytest.raises(ValueError, match='scale_init'):
        GroupNetResNet(num_bases=2, scale_init='ones')


def test_shared_downsample_structure_params_and_bops():
    """One downsample per block shared by the K bases (the official code's): a binary 1x1
    conv over the group's C-channel input and one BN, whose output goes to every base, run once
    on the shared input; per-base downsamples (``shared_downsample=False``) hold K of them. The
    difference in parameters and binary MACs is exactly (K - 1) downsamples."""
    from mmbnn.analysis import summarize
    k, width = 3, 8
    shared, per_base = small(num_bases=k), small(num_bases=k, shared_downsample=False)
    assert shared.shared_downsample and not per_base.shared_downsample
    extra_params = extra_bops = 0
    size = 32 // 4  # after the stem: 7x7/2 conv and max-pool
    for i, name in enumerate(shared.res_layers):
        block, pb_block = getattr(shared, name)[0], getattr(per_base, name)[0]
        if i == 0:
            assert block.downsample is None
            continue
        size //= 2
        cin, cout = width * 2**(i - 1), width * 2**i
        conv, bn = block.downsample
        assert type(block.downsample) is nn.Sequential and isinstance(conv, BinaryConv2d)
        assert (conv.in_channels, conv.out_channels, conv.groups) == (cin, cout, 1)
        assert conv.num_bases == 1 and conv.execution_bases == 1 and bn.num_features == cout
        assert block.shared_downsample and not pb_block.shared_downsample
        pb_conv, pb_bn = pb_block.downsample
        assert (pb_conv.in_channels, pb_conv.out_channels, pb_conv.groups) == \
            (k * cin, k * cout, k) and pb_bn.num_features == k * cout
        extra_params += (k - 1) * (cin * cout + 2 * cout)  # conv weight, BN weight and bias
        extra_bops += (k - 1) * cin * cout * size * size
    assert set(shared.state_dict()) == set(per_base.state_dict())  # the same keys
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(per_base) - n(shared) == extra_params > 0
    s, p = summarize(shared, (3, 32, 32)), summarize(per_base, (3, 32, 32))
    assert p.params - s.params == extra_params
    assert p.bops - s.bops == extra_bops > 0
    # run once on the shared input: one call of the conv, on C channels
    calls = []
    conv = shared.layer2[0].downsample[0]
    handle = conv.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    out = shared(torch.randn(2, 3, 32, 32))[-1]
    handle.remove()
    assert calls == [(2, width, 8, 8)] and out.shape == (2, 8 * width, 1, 1)
    # with soft gates it runs on each base's own input: K calls
    gated = small(num_bases=k, soft_gate=True)
    calls.clear()
    handle = gated.layer2[0].downsample[0].register_forward_hook(
        lambda m, i, o: calls.append(tuple(i[0].shape)))
    gated(torch.randn(2, 3, 32, 32))
    handle.remove()
    assert calls == [(2, width, 8, 8)] * k


def test_shared_downsample_thresholds_and_k1():
    """A shared downsample's binary conv holds one base: per-base thresholds become one
    (starting at 0), per-base weight scales one. K = 1 and the layer-wise decomposition are the
    same either way."""
    conv_cfg = groupnet_conv_cfg(weight_scale='layer', base_shifts=(-0.4, 0.1, 0.4))
    model = small(num_bases=3, conv_cfg=conv_cfg)
    ds = model.layer2[0].downsample[0]
    assert ds.act_binarizer.num_bases == 1 and ds.act_binarizer.shifts == (0.0, )
    assert ds.weight_binarizer.num_bases == 1
    assert model.layer2[0].conv1.act_binarizer.shifts == (-0.4, 0.1, 0.4)
    for kwargs in (dict(num_bases=1), dict(num_bases=3, decomposition='layer')):
        a, b = small(**kwargs), small(shared_downsample=False, **kwargs)
        assert not a.shared_downsample
        assert {k: v.shape for k, v in a.state_dict().items()} == \
            {k: v.shape for k, v in b.state_dict().items()}
    with pytest.raises(ValueError, match='downsample conv takes 5 channels'):
        BinaryBasicBlock(12, 12, groups=3, downsample=nn.Sequential(nn.Conv2d(5, 4, 1),
                                                                     nn.BatchNorm2d(4)))


def test_layer_decomposition_sums_k_convs():
    conv = MultiBaseBinaryConv2d(4, 6, 3, padding=1, num_bases=3, bias=True)
    assert (conv.in_channels, conv.out_channels, conv.groups, conv.num_bases) == (4, 6, 1, 3)
    assert conv.weight.shape == (18, 4, 3, 3)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
        conv.aggregate.scales.uniform_(0.2, 1.0)
    x = torch.randn(2, 4, 5, 5)
    expected = 0
    for i in range(3):
        single = BinaryConv2d(4, 6, 3, padding=1, act_binarizer=dict(type='ApproxSign'),
                              pad_value=1.0)
        single.weight.data.copy_(conv.weight.detach()[6 * i:6 * (i + 1)])
        single.bias.data.copy_(conv.bias.detach()[6 * i:6 * (i + 1)])
        expected = expected + conv.aggregate.scales[i] * single(x)
    torch.testing.assert_close(conv(x), expected)  # the fused conv (lambda-combined weight)
    with explicit_bases():  # the K convs as one grouped conv
        torch.testing.assert_close(conv(x), expected)
    model = small(depth=18, num_bases=3, decomposition='layer')
    convs = [m for m in model.modules() if isinstance(m, MultiBaseBinaryConv2d)]
    assert len(convs) == 16 + 3  # every block conv and every (binary) downsample conv
    assert model(torch.randn(2, 3, 32, 32))[-1].shape == (2, 64, 1, 1)


def test_per_base_thresholds_give_each_base_its_own_binary_input():
    """With BaseShiftSign the K bases of a layer-wise conv binarize x - b_k: the layer is no
    longer one conv with a multi-bit weight; each base equals a conv of sign(x - b_k)."""
    conv = MultiBaseBinaryConv2d(4, 6, 3, padding=1, num_bases=3, bias=False,
                                 act_binarizer=dict(type='BaseShiftSign'))
    assert conv.act_binarizer.shifts == (-0.5, 0.0, 0.5)
    x = torch.randn(2, 4, 5, 5)
    expected = 0
    for i, shift in enumerate((-0.5, 0.0, 0.5)):
        w = conv.weight.detach()[6 * i:6 * (i + 1)]
        expected = expected + conv.aggregate.scales[i] * _bconv(x - shift, w, 1, 1)
    torch.testing.assert_close(conv(x), expected)
    # and they differ from one shared binarization
    shared = sum(conv.aggregate.scales[i] * _bconv(x, conv.weight.detach()[6 * i:6 * (i + 1)],
                                                   1, 1) for i in range(3))
    assert not torch.allclose(conv(x), shared)


def test_lambda_off_averages():
    model = small(depth=18, num_bases=4, learn_scales=False)
    scales = model.layer1[0].aggregate.scales
    assert not isinstance(scales, nn.Parameter)
    torch.testing.assert_close(scales, torch.full((4, ), 0.25))
    assert not any('scales' in n for n, _ in model.named_parameters())


def test_k_bases_held_as_one_grouped_conv():
    model = small(depth=18, num_bases=5)
    conv = model.layer2[0].conv1
    assert isinstance(conv, BinaryConv2d)
    assert (conv.in_channels, conv.out_channels, conv.groups) == (5 * 8, 5 * 16, 5)
    assert sum(isinstance(m, BinaryConv2d) for m in model.modules()) == 16 + 3
    # K = 1 is a plain binary ResNet: no lambda
    assert all(getattr(b, 'aggregate', None) is None for b in small(num_bases=1).layer1)


@pytest.mark.parametrize('depth,out_channels', [(18, 64), (34, 64), (50, 256), (20, 32)])
def test_depths_and_out_indices(depth, out_channels):
    kwargs = dict(stem='cifar') if depth == 20 else {}
    model = small(depth=depth, num_bases=2, out_indices=(0, -1), **kwargs)
    outs = model(torch.randn(2, 3, 32, 32))
    assert len(outs) == 2 and outs[-1].shape[1] == out_channels
    assert model.feat_dim == out_channels


def test_stems_and_dilations():
    deep = small(depth=18, num_bases=2, stem='deep', strides=(1, 2, 1, 1),
                 dilations=(1, 1, 2, 4), out_indices=(0, 1, 2, 3))
    shapes = [tuple(o.shape) for o in deep(torch.randn(1, 3, 64, 64))]
    assert shapes == [(1, 8, 16, 16), (1, 16, 8, 8), (1, 32, 8, 8), (1, 64, 8, 8)]
    assert deep.layer4[0].conv1.dilation == (4, 4)
    assert all(not isinstance(m, BinaryConv2d) for m in deep.stem.modules())
    assert isinstance(deep.stem[-1], nn.BatchNorm2d)  # no ReLU at the end
    cifar = small(depth=18, num_bases=1, stem='cifar')
    assert cifar(torch.randn(1, 3, 32, 32))[-1].shape == (1, 64, 4, 4)


def _first_binary_input(model, x):
    """What the act binarizer of layer1.0.conv1 outputs for ``x``."""
    seen = []
    handle = model.layer1[0].conv1.act_binarizer.register_forward_hook(
        lambda m, i, o: seen.append(o.detach()))
    model(x)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize('stem', ['imagenet', 'cifar', 'deep'])
def test_first_binary_conv_sees_signed_inputs(stem):
    """Defect: a stem ending in ReLU makes every input of layer1.0.conv1 >= 0, so sign() gives
    +1 everywhere and the conv's output is the same for every image. The default stem (the
    paper's, no activation) gives signed inputs that differ between images."""
    x = torch.randn(4, 3, 32, 32)
    model = small(num_bases=3, stem=stem).eval()
    signs = _first_binary_input(model, x)
    assert (signs == -1).any() and (signs == 1).any()
    assert not (signs == signs[:1]).all(), 'the first binary input is the same for all images'
    relu = small(num_bases=3, stem=stem, stem_act_cfg=dict(type='ReLU')).eval()
    assert (_first_binary_input(relu, x) == 1).all()  # the defect this guards against


@pytest.mark.parametrize('shared', [True, False])
@pytest.mark.parametrize('kind,cls', [('binary', BinaryConv2d), ('real', RealDownsampleConv2d),
                                      ('avgpool', PooledConv2d)])
def test_downsample_kinds(kind, cls, shared):
    model = small(depth=18, num_bases=2, downsample=kind, shared_downsample=shared)
    conv = model.layer2[0].downsample[0]
    assert isinstance(conv, cls) and (kind == 'binary') == isinstance(conv, BinaryConv2d)
    assert (conv.in_channels, conv.groups) == ((8, 1) if shared else (16, 2))
    assert model(torch.randn(2, 3, 32, 32))[-1].shape == (2, 64, 1, 1)


def test_stem_and_head_stay_full_precision():
    """Every layer outside the residual stages is full precision (stem conv and BN), every conv
    inside is binary, and a classifier built on the backbone keeps a real nn.Linear head."""
    from mmengine.config import Config
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import init_default_scope
    model = small(depth=18, num_bases=3, stem='deep')
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            assert isinstance(m, BinaryConv2d) == name.startswith('layer'), name
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/digits/groupnet-r18-w16-5b_1xb64_digits.py'))
    clf = ROOT_MODELS.build(cfg.model)
    assert type(clf.head.fc) is nn.Linear and type(clf.backbone.conv1) is nn.Conv2d


def test_groupnet_convs_pad_with_plus_one():
    """Every binary conv of Group-Net's backbone, binary FPN, FCOS head and ASPP head pads with
    +1 by default, and the border taps then see +1, not 0."""
    from mmbnn.models.decode_heads import BinaryASPPHead
    from mmbnn.models.dense_heads import GroupNetFCOSHead
    from mmbnn.models.necks import BinaryFPN
    modules = [small(num_bases=2),
               BinaryFPN([8, 16], 8, num_outs=3, num_bases=2, add_extra_convs='on_output'),
               GroupNetFCOSHead(2, 8, feat_channels=8, stacked_convs=2, num_bases=2),
               BinaryASPPHead(in_channels=8, channels=8, num_classes=2, num_bases=2)]
    for module in modules:
        convs = [m for m in module.modules() if isinstance(m, BinaryConv2d)]
        assert convs
        for m in convs:
            assert m.pad_value == 1.0, (type(module).__name__, m)
    conv = BinaryConv2d(1, 1, 3, padding=1, bias=False, pad_value=1.0,
                        weight_binarizer=dict(type='SignWeight'))
    conv.weight.data.fill_(1.0)
    out = conv(-torch.ones(1, 1, 3, 3))
    # centre: 9 taps of -1; corner: 4 taps of -1 and 5 padded taps of +1
    assert out[0, 0, 1, 1] == -9 and out[0, 0, 0, 0] == 1


@pytest.mark.parametrize('k', [1, 3])
def test_layer_scale_is_per_base_and_channel_scale_per_channel(k):
    """weight_scale='layer': one mean|w| per layer of each base (Group-Net's code); 'channel':
    one per output channel (XNOR-Net), numerically, against NumPy."""
    from mmbnn.binarizers import LayerScaleWeight, XNORWeight
    w = torch.randn(4 * k, 3, 3, 3)
    wn = w.numpy()
    sign = np.where(wn >= 0, 1.0, -1.0)
    per_base = np.concatenate([np.full((4, 1, 1, 1), np.abs(wn[4 * b:4 * (b + 1)]).mean())
                               for b in range(k)])
    np.testing.assert_allclose(LayerScaleWeight(num_bases=k)(w).numpy(), per_base * sign,
                               rtol=1e-6)
    per_channel = np.abs(wn).mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(XNORWeight()(w).numpy(), per_channel * sign, rtol=1e-6)
    assert groupnet_conv_cfg(weight_scale='layer')['weight_binarizer']['type'] == \
        'LayerScaleWeight'
    conv = small(num_bases=k, conv_cfg=groupnet_conv_cfg(weight_scale='layer')).layer1[0].conv1
    assert conv.weight_binarizer.num_bases == k


def test_frozen_stages_and_norm_eval():
    model = small(depth=18, num_bases=2, frozen_stages=1, norm_eval=True)
    model.train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.layer2.training


def torchvision_resnet18_state(tmp_path):
    import torchvision
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    randomize_bn(net)
    path = tmp_path / 'resnet18-tv.pth'
    torch.save(net.state_dict(), path)
    return net.state_dict(), str(path)


@pytest.mark.parametrize('fmt', ['torchvision', 'mmpretrain'])
@pytest.mark.parametrize('decomposition', ['group', 'layer'])
def test_pretrained_full_precision_copied_into_every_base(tmp_path, fmt, decomposition):
    fp, path = torchvision_resnet18_state(tmp_path)
    if fmt == 'mmpretrain':
        state = {f'backbone.{k}': v for k, v in fp.items() if not k.startswith('fc.')}
        state.update({'head.fc.weight': fp['fc.weight'], 'head.fc.bias': fp['fc.bias']})
        path = str(tmp_path / 'resnet18-mmpretrain.pth')
        torch.save(dict(meta=dict(epoch=1), state_dict=state), path)
    k = 3
    models = {noise: GroupNetResNet(depth=18, num_bases=k, decomposition=decomposition,
                                    init_cfg=dict(type='Pretrained', checkpoint=path,
                                                  **({} if noise is None else
                                                     dict(base_noise=noise))))
              for noise in (0.0, None)}
    for m in models.values():
        m.init_weights()
    exact, noisy = models[0.0].state_dict(), models[None].state_dict()
    torch.testing.assert_close(exact['conv1.weight'], fp['conv1.weight'])
    torch.testing.assert_close(noisy['conv1.weight'], fp['conv1.weight'])
    for key in ['layer1.0.conv1.weight', 'layer3.0.bn2.running_var', 'layer4.1.bn1.weight',
                'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.bias']:
        c = fp[key].shape[0]
        # Group-wise: every conv and BN of a base holds K bases, the shared downsample one.
        # Layer-wise: only the convs do.
        is_conv = key.endswith('conv1.weight') or 'downsample.0' in key
        bases = k if decomposition == 'group' or is_conv else 1
        if decomposition == 'group' and 'downsample' in key:
            bases = 1
        assert exact[key].shape[0] == noisy[key].shape[0] == bases * c
        for base in range(bases):
            rows = slice(base * c, (base + 1) * c)
            torch.testing.assert_close(exact[key][rows], fp[key])
            if base == 0 or not is_conv:  # base 0 and the BN are exact copies
                torch.testing.assert_close(noisy[key][rows], fp[key])
            else:  # base k > 0 of a conv: the copy plus noise of 0.1 x the layer's std
                diff = noisy[key][rows] - fp[key]
                assert 0.05 < float(diff.std() / fp[key].std()) < 0.15, key


def _train_steps(model, steps=8):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.randn(4, 3, 32, 32, generator=g)
        y = model(x)[-1].mean((2, 3))
        loss = ((y - torch.randn(y.shape, generator=g)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize('base_noise,shifts', [(None, False), (0.0, True)])
def test_bases_differ_after_training_from_a_full_precision_copy(tmp_path, base_noise, shifts):
    """Defect: K exact copies of one full-precision model stay K identical bases under Adam
    (``stuck``). The default perturbation of bases k > 0 (``base_noise=None``) or, with exact
    copies (``base_noise=0.0``), per-base thresholds make them differ; the diagnostic measures
    it (1.0 = identical). The shared downsample holds one base and is not a K-base layer."""
    fp = small(num_bases=1).state_dict()  # a "full-precision" ResNet-18 of width 8
    path = tmp_path / 'fp.pth'
    torch.save(fp, path)

    def build(noise, conv_cfg, **kwargs):
        init = dict(type='Pretrained', checkpoint=str(path))
        if noise is not None:
            init['base_noise'] = noise
        torch.manual_seed(0)
        m = small(num_bases=3, conv_cfg=conv_cfg, init_cfg=init, **kwargs)
        m.init_weights()
        return m

    # exact copies, one threshold: the bases cannot tell themselves apart
    baseline = build(0.0, groupnet_conv_cfg())
    assert mean_base_agreement(baseline) == 1.0
    _train_steps(baseline)
    stuck = mean_base_agreement(baseline)
    model = build(base_noise, groupnet_conv_cfg(base_shifts=shifts))
    start = mean_base_agreement(model)
    _train_steps(model)
    after = mean_base_agreement(model)
    agreement = base_agreement(model)
    assert set(agreement) >= {'layer1.0.conv1', 'layer4.1.conv2'}
    assert 'layer2.0.downsample.0' not in agreement  # shared: one base
    if shifts:
        assert start == 1.0  # same weights; the thresholds alone make the bases diverge
    else:
        assert start < 0.99
    assert after < stuck - 0.01, (after, stuck)
    per_base = build(base_noise, groupnet_conv_cfg(base_shifts=shifts), shared_downsample=False)
    assert 'layer2.0.downsample.0' in base_agreement(per_base)


def test_expand_to_bases_reports_and_refuses():
    target = {'a': torch.zeros(6, 2), 'b': torch.zeros(3), 'new': torch.zeros(1)}
    out, missing, unexpected = expand_to_bases(
        {'a': torch.ones(2, 2), 'b': torch.ones(3), 'fc.weight': torch.ones(1)}, target)
    assert out['a'].shape == (6, 2) and missing == ['new'] and unexpected == ['fc.weight']
    with pytest.raises(ValueError, match="cannot map a"):
        expand_to_bases({'a': torch.ones(4, 2)}, target)
    with pytest.raises(ValueError, match='base_noise'):
        expand_to_bases({}, target, base_noise=-1)
    # the noise is deterministic (seeded) and only touches conv weights (4-d)
    conv = {'w': torch.randn(2, 2, 3, 3)}
    a = expand_to_bases(conv, {'w': torch.zeros(6, 2, 3, 3)}, base_noise=0.1)[0]['w']
    b = expand_to_bases(conv, {'w': torch.zeros(6, 2, 3, 3)}, base_noise=0.1)[0]['w']
    torch.testing.assert_close(a, b)
    assert not torch.equal(a[2:4], a[:2])
    assert torch.equal(expand_to_bases({'b': torch.ones(3)}, {'b': torch.zeros(9)},
                                       base_noise=0.1)[0]['b'], torch.ones(9))


def test_pretrained_init_cfg_refuses_unknown_keys(tmp_path):
    with pytest.raises(KeyError, match='base_nois'):
        small(init_cfg=dict(type='Pretrained', checkpoint='x.pth', base_nois=0.1)).init_weights()


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(num_bases=0), ValueError, 'num_bases'),
    (dict(num_bases=2.5), ValueError, 'num_bases'),
    (dict(depth=19), KeyError, 'depth 19'),
    (dict(out_indices=(4, )), IndexError, 'out_indices'),
    (dict(out_indices=(-5, )), IndexError, 'out_indices'),
    (dict(decomposition='block'), ValueError, 'decomposition'),
    (dict(downsample='pool'), ValueError, 'downsample'),
    (dict(stem='huge'), ValueError, 'stem'),
    (dict(strides=(1, 2)), ValueError, 'strides'),
    (dict(frozen_stages=5), ValueError, 'frozen_stages'),
    (dict(soft_gate=True, decomposition='layer'), ValueError, 'soft_gate'),
    (dict(order=('act', 'add')), ValueError, 'order'),
    (dict(order=('norm', 'add'), act_cfg=dict(type='ReLU')), ValueError, 'act_cfg'),
    (dict(conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(
        type='BaseShiftSign', num_bases=2))), ValueError, 'num_bases=2'),
])
def test_bad_configs_fail_at_build_time(kwargs, error, match):
    with pytest.raises(error, match=match):
        MODELS.build(dict(type='mmbnn.GroupNetResNet', **kwargs))
