"""GroupNetResNet: the K bases as grouped convs equal K separate binary networks summed with
lambda; soft connections; layer-wise decomposition; full-precision initialisation; the usual
OpenMMLab backbone arguments; build-time errors."""
import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbnn.layers import BinaryConv2d, MultiBaseBinaryConv2d
from mmbnn.models.backbones import BinaryBasicBlock, GroupNetResNet
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


def test_backbone_sums_bases_with_lambda_each_group():
    model = small(depth=18, num_bases=3).eval()
    randomize_bn(model)
    x = torch.randn(2, 3, 32, 32)
    # Recompute the forward pass by hand from the modules: stem, then every block on its input
    # repeated K times, then sum_k lambda_k * base_k.
    h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for name in model.res_layers:
        for block in getattr(model, name):
            out = block(h.repeat(1, 3, 1, 1))
            bases = out.view(2, 3, out.shape[1] // 3, *out.shape[2:])
            lam = block.aggregate.scales
            h = sum(lam[i] * bases[:, i] for i in range(3))
    torch.testing.assert_close(model(x)[-1], h)


def test_soft_gate_mixes_own_and_aggregated_inputs():
    model = small(depth=18, num_bases=2, soft_gate=True).eval()
    assert all(b.aggregate.gate is None for b in model.layer1)
    gated = [b for name in model.res_layers[1:] for b in getattr(model, name)]
    assert all(b.aggregate.gate is not None for b in gated)
    agg = gated[0].aggregate
    with torch.no_grad():
        agg.gate.copy_(torch.tensor([0.3, -1.2]))
    x, own = torch.randn(2, 4, 3, 3), torch.randn(2, 8, 3, 3)
    mixed = agg.expand(x, own)
    for base, g in enumerate([0.3, -1.2]):
        s = torch.sigmoid(torch.tensor(g))
        torch.testing.assert_close(mixed[:, 4 * base:4 * (base + 1)],
                                   s * own[:, 4 * base:4 * (base + 1)] + (1 - s) * x)
    # gates change the output and receive gradients
    out = model(torch.randn(2, 3, 32, 32))[-1]
    out.sum().backward()
    assert agg.gate.grad is not None and agg.gate.grad.abs().sum() > 0


def test_layer_decomposition_sums_k_convs():
    conv = MultiBaseBinaryConv2d(4, 6, 3, padding=1, num_bases=3, bias=False)
    x = torch.randn(2, 4, 5, 5)
    w = conv.weight.detach()
    expected = 0
    for i in range(3):
        single = BinaryConv2d(4, 6, 3, padding=1, bias=False)
        single.weight.data.copy_(w[6 * i:6 * (i + 1)])
        expected = expected + conv.aggregate.scales[i] * single(x)
    torch.testing.assert_close(conv(x), expected)
    model = small(depth=18, num_bases=3, decomposition='layer')
    convs = [m for m in model.modules() if isinstance(m, MultiBaseBinaryConv2d)]
    assert len(convs) == 16 + 3  # every block conv and every (binary) downsample conv
    assert model(torch.randn(2, 3, 32, 32))[-1].shape == (2, 64, 1, 1)


def test_lambda_off_averages():
    model = small(depth=18, num_bases=4, learn_scales=False)
    scales = model.layer1[0].aggregate.scales
    assert not isinstance(scales, nn.Parameter)
    torch.testing.assert_close(scales, torch.full((4, ), 0.25))
    assert not any('scales' in n for n, _ in model.named_parameters())


def test_k_bases_run_as_one_grouped_conv():
    model = small(depth=18, num_bases=5)
    conv = model.layer2[0].conv1
    assert isinstance(conv, BinaryConv2d)
    assert (conv.in_channels, conv.out_channels, conv.groups) == (5 * 8, 5 * 16, 5)
    assert sum(isinstance(m, BinaryConv2d) for m in model.modules()) == 16 + 3


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
    cifar = small(depth=18, num_bases=1, stem='cifar')
    assert cifar(torch.randn(1, 3, 32, 32))[-1].shape == (1, 64, 4, 4)


@pytest.mark.parametrize('kind,cls', [('binary', BinaryConv2d), ('real', nn.Conv2d),
                                      ('avgpool', nn.Conv2d)])
def test_downsample_kinds(kind, cls):
    model = small(depth=18, num_bases=2, downsample=kind)
    conv = model.layer2[0].downsample[0]
    assert isinstance(conv, cls) and (kind == 'binary') == isinstance(conv, BinaryConv2d)
    assert conv.groups == 2
    assert model(torch.randn(2, 3, 32, 32))[-1].shape == (2, 64, 1, 1)


def test_stem_and_head_stay_full_precision():
    model = small(depth=18, num_bases=3)
    assert type(model.conv1) is nn.Conv2d


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
    model = GroupNetResNet(depth=18, num_bases=k, decomposition=decomposition,
                           init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    sd = model.state_dict()
    torch.testing.assert_close(sd['conv1.weight'], fp['conv1.weight'])
    for key in ['layer1.0.conv1.weight', 'layer3.0.bn2.running_var', 'layer4.1.bn1.weight',
                'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.bias']:
        c = fp[key].shape[0]
        # Group-wise: every conv and BN holds K bases. Layer-wise: only the convs do.
        is_conv = key.endswith('conv1.weight') or 'downsample.0' in key
        bases = k if decomposition == 'group' or is_conv else 1
        assert sd[key].shape[0] == bases * c
        for base in range(bases):
            torch.testing.assert_close(sd[key][base * c:(base + 1) * c], fp[key])


def test_expand_to_bases_reports_and_refuses():
    target = {'a': torch.zeros(6, 2), 'b': torch.zeros(3), 'new': torch.zeros(1)}
    out, missing, unexpected = expand_to_bases(
        {'a': torch.ones(2, 2), 'b': torch.ones(3), 'fc.weight': torch.ones(1)}, target)
    assert out['a'].shape == (6, 2) and missing == ['new'] and unexpected == ['fc.weight']
    with pytest.raises(ValueError, match="cannot map a"):
        expand_to_bases({'a': torch.ones(4, 2)}, target)


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
])
def test_bad_configs_fail_at_build_time(kwargs, error, match):
    with pytest.raises(error, match=match):
        MODELS.build(dict(type='mmbnn.GroupNetResNet', **kwargs))
