"""Our side of the Larq Compute Engine export (mmbnn.deploy.lce), without TensorFlow: the neutral
graph's structure and values against the model, its refusals, the LCE environment's API, and the
LCE side's pure-NumPy padding arithmetic. (The LCE comparison itself runs in the LCE environment:
tools/deploy/compare_lce.py.)"""
import functools
import json
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from conftest import ROOT
from test_convert_bitpacked import randomise
from mmbnn.deploy.lce import (LceEnvMissing, NotExportable, binarizer_margins, describe,
                              load_graph, model_forward, model_inputs, register_describer,
                              require_lce_python, run_graph, save_graph)
from mmbnn.deploy.lce.env import LCE_ENV_VARS, LCE_PINS, lce_environ
from mmbnn.layers import BinaryConv2d, BinaryLinear

BIREAL_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                   weight_binarizer=dict(type='XNORWeight'))
GROUPNET_CONV = dict(BIREAL_CONV, pad_value=1.0)


@pytest.fixture(autouse=True)
def one_thread():
    """The models are tiny: one torch thread is several times faster than two here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def classifier(to_rgb=False, **backbone):
    """A tiny mmpretrain classifier on an mmbnn GroupNetResNet (8x8 inputs, width 4), with the
    digits' data preprocessor and trained-like random statistics (some exact zero weights)."""
    init_default_scope('mmpretrain')
    cfg = dict(type='ImageClassifier',
               data_preprocessor=dict(num_classes=10, mean=[70.0, 80.0, 90.0],
                                      std=[90.0, 95.0, 100.0], to_rgb=to_rgb),
               backbone=dict(dict(type='mmbnn.GroupNetResNet', depth=18, num_bases=1,
                                  stem='cifar', stem_channels=4, base_channels=4,
                                  out_indices=(3, )), **backbone),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=10, in_channels=32, topk=(1, ),
                         loss=dict(type='CrossEntropyLoss')))
    return randomise(MODELS.build(cfg))


MODELS_UNDER_TEST = {
    'birealnet': dict(downsample='avgpool', conv_cfg=BIREAL_CONV, act_cfg=None,
                      order=('norm', 'add')),
    'reactnet': dict(downsample='avgpool', act_cfg=dict(type='mmbnn.RPReLU'),
                     order=('norm', 'add', 'act'),
                     conv_cfg=dict(BIREAL_CONV, act_binarizer=dict(type='RSign'))),
    'bnn-real-ds': dict(downsample='real', conv_cfg=dict(
        type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
        weight_binarizer=dict(type='SignWeight'))),
    'groupnet-k3': dict(num_bases=3, conv_cfg=GROUPNET_CONV),
    'groupnet-k3-shifts': dict(num_bases=3, conv_cfg=dict(
        GROUPNET_CONV, act_binarizer=dict(type='BaseShiftSign'))),
    'groupnet-k2-gates': dict(num_bases=2, soft_gate=True, conv_cfg=GROUPNET_CONV),
}


@functools.lru_cache(maxsize=None)
def described(name):
    """``(model, graph, arrays)`` of a model of MODELS_UNDER_TEST at 8x8 (built once; the tests
    only read them)."""
    model = classifier(**MODELS_UNDER_TEST[name])
    return (model, *describe(model, (1, 3, 8, 8)))


def binary_convs(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, BinaryConv2d)]


@pytest.mark.parametrize('name', list(MODELS_UNDER_TEST))
def test_graph_reproduces_model(name):
    """The graph, computed by its reference (run_graph), gives the model's logits on raw 0-255
    images (normalization inside), batch > 1; one bconv2d per call of a binary conv (a
    downsample shared by K gated bases runs once per base)."""
    model, graph, arrays = described(name)
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 255
    calls = []
    hooks = [m.register_forward_hook(lambda *a: calls.append(1)) for _, m in binary_convs(model)]
    mean, std = torch.tensor([70.0, 80.0, 90.0]), torch.tensor([90.0, 95.0, 100.0])
    want = model((x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1), mode='tensor')
    for h in hooks:
        h.remove()
    got = run_graph(graph, arrays, x)[0]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    ops = [n['op'] for n in graph['nodes']]
    assert ops.count('bconv2d') == len(calls)
    assert len(binary_convs(model)) == graph['summary']['model_binary_layers']
    assert ops[0] == 'normalize' and ops[-1] == 'linear'
    assert graph['nodes'][-1]['shape'] == [10]
    # every binary node names its module
    assert {n for n, _ in binary_convs(model)} == {
        n['source'] for n in graph['nodes'] if n['op'] == 'bconv2d'}


def test_bconv_values_against_the_model():
    """Each bconv2d node holds its layer's signs, per-channel scale (XNOR: mean |w|, computed
    here), threshold (RSign: its bias), padding value, geometry and groups; BN nodes hold the
    running statistics."""
    model, graph, arrays = described('reactnet')
    nodes = {n['source']: n for n in graph['nodes']}
    for name, m in binary_convs(model):
        node = nodes[name]
        a = node['attrs']
        w = m.weight.detach()
        np.testing.assert_array_equal(arrays[f'{node["name"]}/signs'],
                                      torch.where(w >= 0, 1, -1).numpy())
        np.testing.assert_allclose(arrays[f'{node["name"]}/scale'],
                                   w.abs().mean((1, 2, 3)).numpy(), rtol=1e-6)
        np.testing.assert_array_equal(arrays[f'{node["name"]}/threshold'],
                                      m.act_binarizer.bias.detach().reshape(-1).numpy())
        assert a['pad_value'] == 0.0 and a['groups'] == 1
        assert a['stride'] == list(m.stride) and a['padding'] == list(m.padding)
        assert a['act_binarizer'] == 'RSign' and a['weight_binarizer'] == 'XNORWeight'
    bn = model.backbone.layer2[0].bn1
    node = nodes['backbone.layer2.0.bn1']
    np.testing.assert_array_equal(arrays[f'{node["name"]}/var'], bn.running_var.numpy())
    assert node['attrs']['eps'] == bn.eps
    rprelu = [n for n in graph['nodes'] if n['source'].startswith('backbone.layer1.0.act1')]
    assert [n['op'] for n in rprelu] == ['bias_add', 'prelu', 'bias_add']


def test_groupnet_bases():
    """Group-Net K=3: +1 padding; the first conv of a group runs as one dense conv over the
    shared input (3 C outputs) when the bases binarize it alike, and on K tiled copies with
    per-base thresholds; the bases are summed with lambda (aggregate)."""
    shared, g, arrays = described('groupnet-k3')
    node = next(n for n in g['nodes'] if n['source'] == 'backbone.layer1.0.conv1')
    assert node['attrs']['groups'] == 1 and node['attrs']['pad_value'] == 1.0
    assert arrays[f'{node["name"]}/signs'].shape == (12, 4, 3, 3)
    conv2 = next(n for n in g['nodes'] if n['source'] == 'backbone.layer1.0.conv2')
    assert conv2['attrs']['groups'] == 3 and conv2['attrs']['bases'] == 3
    agg = [n for n in g['nodes'] if n['op'] == 'aggregate']
    assert len(agg) == 8
    np.testing.assert_array_equal(arrays[f'{agg[0]["name"]}/scales'],
                                  shared.backbone.layer1[0].aggregate.scales.detach().numpy())

    _, g, arrays = described('groupnet-k3-shifts')
    node = next(n for n in g['nodes']
                if n['source'] == 'backbone.layer1.0.conv1' and n['op'] == 'bconv2d')
    assert node['attrs']['groups'] == 3
    assert next(n for n in g['nodes'] if n['name'] == node['inputs'][0])['op'] == 'tile'
    thr = arrays[f'{node["name"]}/threshold'].reshape(3, 4)
    assert len(set(thr[:, 0].tolist())) == 3  # one threshold per base


def test_bconv_semantics_independently():
    """bconv2d = conv(pad(sign(x - b), pad_value), signs) * scale + bias, sign(0) = +1, checked
    against a direct computation for +1 and 0 padding, stride 2, groups."""
    from mmbnn.deploy.lce.graph import Graph
    g = torch.Generator().manual_seed(0)
    for pad_value, stride, groups in ((1.0, 1, 1), (0.0, 2, 2), (1.0, 2, 2)):
        conv = BinaryConv2d(4, 6, 3, stride=stride, padding=1, groups=groups, bias=True,
                            act_binarizer=dict(type='RSign'), pad_value=pad_value).eval()
        with torch.no_grad():
            for p in conv.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        x = torch.randn(2, 4, 6, 6, generator=g)
        x[0, 0, 0, 0] = conv.act_binarizer.bias.reshape(-1)[0]  # exactly at the threshold
        from mmbnn.deploy.lce.describe import Describer
        d = Describer(conv, (1, 4, 6, 6))
        out = d.walk(conv, 'conv', 'input')
        d.graph.outputs = [out]
        graph = d.graph.to_dict()
        xb = torch.where(x - conv.act_binarizer.bias.view(1, -1, 1, 1) >= 0, 1.0, -1.0)
        xb = F.pad(xb, (1, 1, 1, 1), value=pad_value)
        w = conv.weight.detach()
        want = F.conv2d(xb, torch.where(w >= 0, 1.0, -1.0), None, stride, 0, 1, groups)
        want = want * w.abs().mean((1, 2, 3)).view(1, -1, 1, 1) + conv.bias.view(1, -1, 1, 1)
        torch.testing.assert_close(run_graph(graph, d.graph.arrays, x)[0], want)
        torch.testing.assert_close(conv(x), want, rtol=1e-5, atol=1e-5)
        assert isinstance(d.graph, Graph)


def test_binarizer_margins():
    """An image's margin is its binarizer inputs' smallest |x - threshold| relative to their
    largest (float64, over every bconv); an image near a threshold flips a sign under a
    perturbation far below its values (what two float32 engines' rounding can do), an image
    with a wide margin does not."""
    from mmbnn.deploy.lce.describe import Describer
    g = torch.Generator().manual_seed(0)
    conv = BinaryConv2d(4, 6, 3, padding=1, act_binarizer=dict(type='RSign')).eval()
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    d = Describer(conv, (1, 4, 6, 6))
    d.graph.outputs = [d.walk(conv, 'conv', 'input')]
    graph, arrays = d.graph.to_dict(), d.graph.arrays
    b = conv.act_binarizer.bias.detach().view(1, -1, 1, 1).double()
    x = torch.randn(2, 4, 6, 6, generator=g, dtype=torch.float64)
    x[1] = b[0] + torch.where(x[1] - b[0] >= 0, 1.0, -1.0) * (0.5 + (x[1] - b[0]).abs())
    x[0, 2, 3, 1] = b[0, 2, 0, 0] - 1e-6  # just below its threshold
    dist = (x - b).abs().flatten(1)
    want = dist.amin(1) / dist.amax(1)
    margins = binarizer_margins(graph, arrays, x)
    assert margins.dtype == torch.float64
    torch.testing.assert_close(margins, want)
    assert margins[0] < 1e-6 < 0.01 < margins[1]
    y = run_graph(graph, arrays, x.float())[0]
    y2 = run_graph(graph, arrays, (x + 2e-6).float())[0]  # ~5e-7 of the largest |x - b|
    changed = (y2 - y).abs().flatten(1).amax(1)
    assert changed[0] > 1.0 and changed[1] == 0  # one sign flipped in image 0 only


def test_save_load_roundtrip(tmp_path):
    _, graph, arrays = described('birealnet')
    json_path, npz_path = save_graph(graph, arrays, str(tmp_path / 'm'))
    g2, a2 = load_graph(str(tmp_path / 'm'))
    assert g2 == json.loads(json.dumps(graph)) and g2['input']['shape'] == [1, 3, 8, 8]
    assert sorted(a2) == sorted(arrays)
    x = torch.rand(2, 3, 8, 8) * 255
    torch.testing.assert_close(run_graph(g2, a2, x)[0], run_graph(graph, arrays, x)[0])
    with open(json_path, 'w') as f:
        json.dump(dict(g2, format='other'), f)
    with pytest.raises(ValueError, match='mmbnn-lce-graph'):
        load_graph(str(tmp_path / 'm'))


@pytest.mark.parametrize('to_rgb', [False, True])
def test_model_inputs_match_preprocessor(to_rgb):
    """The graph takes what the data preprocessor takes (BGR -> RGB flip included)."""
    model = described('birealnet')[0] if not to_rgb else classifier(
        to_rgb=True, **MODELS_UNDER_TEST['birealnet'])
    x = torch.rand(2, 3, 8, 8) * 255
    pre = model_inputs(model, x)
    mean, std = torch.tensor([70.0, 80.0, 90.0]), torch.tensor([90.0, 95.0, 100.0])
    flipped = x.flip(1) if to_rgb else x
    torch.testing.assert_close(pre, (flipped - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    torch.testing.assert_close(model_forward(model, pre), model(pre, mode='tensor'))
    if to_rgb:
        graph, arrays = describe(model, (1, 3, 8, 8))
        assert graph['nodes'][0]['attrs']['flip_channels']
        torch.testing.assert_close(run_graph(graph, arrays, x)[0], model(pre, mode='tensor'),
                                   rtol=1e-4, atol=1e-4)


def _swap(model, path, new):
    parent, _, attr = path.rpartition('.')
    setattr(model.get_submodule(parent), attr, new)


def _conv(**kw):
    return BinaryConv2d(4, 4, 3, padding=1, bias=False, **kw)


@pytest.mark.parametrize('layer, match', [
    (lambda: _conv(act_binarizer=dict(type='DoReFaActivation', bits=2)),
     'DoReFaActivation is not a sign'),
    (lambda: _conv(act_binarizer=None), 'real-valued input'),
    (lambda: _conv(weight_binarizer=dict(type='SparseBinaryWeight')), 'offset'),
    (lambda: _conv(padding_mode='reflect'), "padding_mode='reflect'"),
    (lambda: _conv(pad_value=-0.5), 'pad_value=-0.5'),
    (lambda: nn.GELU(), 'no LCE describer'),
])
def test_refusals_name_the_layer(layer, match):
    model = classifier(**MODELS_UNDER_TEST['birealnet'])
    _swap(model, 'backbone.layer1.0.conv1', layer())
    with pytest.raises(NotExportable, match=match) as e:
        describe(model, (1, 3, 8, 8))
    assert str(e.value).startswith('backbone.layer1.0.conv1 (')


def test_refuses_binary_linear_and_bpac():
    model = classifier(**MODELS_UNDER_TEST['birealnet'])
    model.head.fc = BinaryLinear(32, 10)
    with pytest.raises(NotExportable, match=r'head.fc \(BinaryLinear\): .*no binary dense'):
        describe(model, (1, 3, 8, 8))
    bpac = classifier(num_bases=2, conv_cfg=GROUPNET_CONV, strides=(1, 2, 1, 1),
                      base_dilations=(None, None, None, (1, 2)))
    with pytest.raises(NotExportable, match='layer4.0.conv1 .*per-base dilation'):
        describe(bpac, (1, 3, 8, 8))


def test_check_catches_a_wrong_describer():
    """describe() runs the graph against the model: a describer that disagrees with its
    module's forward is caught, not exported."""
    from mmbnn.deploy.lce.describe import DESCRIBERS

    class Doubled(nn.ReLU):

        def forward(self, x):
            return 2 * super().forward(x)

    model = classifier(**MODELS_UNDER_TEST['bnn-real-ds'])
    model.backbone.layer1[0].act1 = Doubled()
    register_describer(Doubled)(DESCRIBERS[nn.ReLU])  # wrong: forgets the factor 2
    try:
        with pytest.raises(RuntimeError, match='differs from the model'):
            describe(model, (1, 3, 8, 8))
    finally:
        DESCRIBERS.pop(Doubled)


def test_lce_env_api(tmp_path, monkeypatch):
    monkeypatch.setenv('MMBNN_LCE_VENV', str(tmp_path / 'absent'))
    with pytest.raises(LceEnvMissing, match='lce_env.py --setup'):
        require_lce_python()
    env = lce_environ()
    assert env['TF_USE_LEGACY_KERAS'] == '1' and LCE_ENV_VARS['TF_USE_LEGACY_KERAS'] == '1'
    assert 'PYTHONPATH' not in env and env['VIRTUAL_ENV'] == str(tmp_path / 'absent')
    assert 'larq-compute-engine==0.16.0' in LCE_PINS and 'tf_keras==2.16.0' in LCE_PINS
    assert '.venv-lce/' in open(osp.join(ROOT, '.gitignore')).read().split()


def _keras_builder():
    """The LCE side's module: importable here, as it imports only NumPy at module level."""
    import importlib.util
    path = osp.join(ROOT, 'mmbnn', 'deploy', 'lce', 'keras_builder.py')
    spec = importlib.util.spec_from_file_location('keras_builder_under_test', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize('hw, stride, dilation', [((2, 2), 1, 1), ((8, 6), 2, 1),
                                                  ((1, 1), 1, 1), ((7, 7), 2, 2)])
def test_padding_correction(hw, stride, dilation):
    """+1 padding minus the correction is zero padding (what the LCE side uses where LCE's own
    zero padding is wrong or pads asymmetrically)."""
    kb = _keras_builder()
    g = torch.Generator().manual_seed(0)
    signs = torch.where(torch.randn(5, 3, 3, 3, generator=g) >= 0, 1.0, -1.0)
    x = torch.where(torch.randn(1, 3, *hw, generator=g) >= 0, 1.0, -1.0)
    pad = dilation
    one = F.conv2d(F.pad(x, (pad, ) * 4, value=1.0), signs, None, stride, 0, dilation)
    zero = F.conv2d(x, signs, None, stride, pad, dilation)
    corr = kb._padding_correction(signs.numpy(), hw, (stride, ) * 2, (pad, ) * 2,
                                  (dilation, ) * 2)
    np.testing.assert_array_equal(corr, (one - zero)[0].permute(1, 2, 0).numpy())


def test_same_padding_rule():
    """TensorFlow's 'same' equals torch's symmetric padding exactly at stride 1 (odd kernel),
    not at stride 2 on an even input (it pads bottom/right only); checked by brute force."""
    kb = _keras_builder()
    assert kb._same_matches((8, 8), (3, 3), (1, 1), (1, 1))
    assert not kb._same_matches((8, 8), (3, 3), (2, 2), (1, 1))
    assert kb._same_matches((7, 7), (3, 3), (2, 2), (1, 1))
    assert not kb._same_matches((112, 112), (3, 3), (2, 2), (1, 1))  # the stem max-pool
    for size in range(1, 12):
        for k, s, p in ((3, 1, 1), (3, 2, 1), (7, 2, 3), (2, 2, 0), (1, 1, 0)):
            before, after, out = kb._same_pads(size, k, s, 1)
            assert out == -(-size // s)
            assert kb._same_matches((size, size), (k, k), (s, s), (p, p)) == (
                before == after == p and out == (size + 2 * p - k) // s + 1)
