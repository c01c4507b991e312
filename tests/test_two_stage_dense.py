"""Group-Net's two-stage recipe for the dense models (FCOS, DeepLabV3): the stage-1 proxy with
per-base thresholds, the config pairs, the benchmark's plan and checks, and the multi-scale
shapes."""
import copy
import glob
import importlib.util
import json
import os.path as osp
import re
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from conftest import ROOT
from mmbnn.binarizers import BaseShiftProxy, BaseShiftSign, build_binarizer
from mmbnn.layers import MultiBaseBinaryConv2d
from mmbnn.models.necks._binary_conv import binary_conv_cfg
from mmbnn.registry import ROOT_MODELS

CONFIGS = osp.join(ROOT, 'configs')


def _load_tool(name):
    path = osp.join(ROOT, 'tools', 'analysis', f'{name}.py')
    sys.path.insert(0, osp.dirname(path))
    spec = importlib.util.spec_from_file_location(f'_test_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


two_stage = _load_tool('two_stage')


# -- the stage-1 proxy with per-base thresholds ------------------------------------------------
def test_base_shift_proxy_is_tanh_of_shifted_input_with_exact_gradient():
    q = build_binarizer(dict(type='BaseShiftProxy', num_bases=3), channels=6)
    assert isinstance(q, BaseShiftProxy) and q.bits == 32
    assert q.shifts == (-0.5, 0.0, 0.5)
    x = torch.randn(2, 6, 4, 4, dtype=torch.double, requires_grad=True)
    b = torch.tensor([-0.5, -0.5, 0.0, 0.0, 0.5, 0.5], dtype=torch.double).view(1, 6, 1, 1)
    y = q.double()(x)
    torch.testing.assert_close(y, torch.tanh(x - b))
    g = torch.randn_like(y)
    y.backward(g)
    torch.testing.assert_close(x.grad, g * (1 - torch.tanh(x - b)**2))
    assert q.bias.grad is not None  # the thresholds learn
    torch.testing.assert_close(q.bias.grad, -(g * (1 - torch.tanh(x - b)**2)).sum((0, 2, 3),
                                                                                 keepdim=True))
    hard = build_binarizer(dict(type='BaseShiftProxy', num_bases=2, kind='hardtanh'),
                           channels=2)
    z = torch.tensor([[[[2.0]], [[0.7]]]])  # minus the shifts -0.5, 0.5: 2.5 (clipped), 0.2
    torch.testing.assert_close(hard(z), torch.tensor([[[[1.0]], [[0.2]]]]))
    with pytest.raises(ValueError, match='kind'):
        build_binarizer(dict(type='BaseShiftProxy', kind='relu'), channels=2)


def test_stage1_thresholds_load_into_the_stage2_binarizer():
    """The stage-1 proxy and the stage-2 sign share the key ``bias``: a stage-1 state dict loads
    into stage 2 key for key, and stage 2 then binarizes x - b_k at the learned b_k."""
    proxy = MultiBaseBinaryConv2d(4, 6, 3, padding=1, num_bases=3, weight_binarizer=None,
                                  act_binarizer=dict(type='BaseShiftProxy'))
    with torch.no_grad():
        proxy.act_binarizer.bias.uniform_(-1, 1)
    binary = MultiBaseBinaryConv2d(4, 6, 3, padding=1, num_bases=3,
                                   act_binarizer=dict(type='BaseShiftSign'))
    assert binary.load_state_dict(proxy.state_dict()).missing_keys == []
    assert isinstance(binary.act_binarizer, BaseShiftSign)
    x = torch.randn(2, 12, 5, 5)  # any input with K * C channels
    b = proxy.act_binarizer.bias.detach()
    torch.testing.assert_close(binary.act_binarizer(x), torch.where(x - b >= 0, 1.0, -1.0))


def _proxy_conv_reference(conv, x, shifts):
    """sum_k lambda_k conv(pad(tanh(x - b_k), 1), W_k), written out base by base."""
    k, out = conv.num_bases, conv.out_channels
    y = 0
    for i in range(k):
        xi = F.pad(torch.tanh(x - shifts[i]), (1, 1, 1, 1), value=1.0)
        y = y + conv.aggregate.scales[i] * F.conv2d(xi, conv.weight[out * i:out * (i + 1)])
    return y


def test_stage1_k_base_conv_is_k_terms_only_with_per_base_thresholds():
    """One tanh shared by the K bases makes the layer ONE real conv (the lambda-combined
    weight): the bases are not separately meaningful. With per-base thresholds the layer is the
    K-term sum, which differs from any single conv of tanh(x)."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    shared = MultiBaseBinaryConv2d(4, 5, 3, padding=1, num_bases=3, bias=False,
                                   weight_binarizer=None,
                                   act_binarizer=dict(type='FPProxy', kind='tanh'))
    lam = shared.aggregate.scales.detach()
    combined = sum(lam[i] * shared.weight.detach()[5 * i:5 * (i + 1)] for i in range(3))
    single = F.conv2d(F.pad(torch.tanh(x), (1, 1, 1, 1), value=1.0), combined)
    torch.testing.assert_close(shared(x), single)

    shifted = MultiBaseBinaryConv2d(4, 5, 3, padding=1, num_bases=3, bias=False,
                                    weight_binarizer=None,
                                    act_binarizer=dict(type='BaseShiftProxy'))
    with torch.no_grad():
        shifted.weight.copy_(shared.weight)
        shifted.aggregate.scales.copy_(shared.aggregate.scales)
    with torch.no_grad():
        torch.testing.assert_close(shifted(x), _proxy_conv_reference(shifted, x,
                                                                     (-0.5, 0.0, 0.5)))
        assert not torch.allclose(shifted(x), single, atol=1e-3)


def test_neck_and_head_take_k_from_num_bases_with_a_conv_cfg():
    conv = dict(type='mmbnn.MultiBaseBinaryConv2d', act_binarizer=dict(type='BaseShiftProxy'),
                weight_binarizer=None)
    assert binary_conv_cfg(3, conv)['num_bases'] == 3
    assert binary_conv_cfg(None, conv)['num_bases'] == 5  # the paper's default
    assert binary_conv_cfg(3, dict(conv, num_bases=3))['num_bases'] == 3
    with pytest.raises(ValueError, match='disagrees'):
        binary_conv_cfg(3, dict(conv, num_bases=2))
    with pytest.raises(ValueError, match='disagrees'):
        binary_conv_cfg(3, dict(type='Conv2d'))  # a real conv has no K
    assert binary_conv_cfg(None, dict(type='Conv2d')) == dict(type='Conv2d')
    with pytest.raises(ValueError, match='int >= 1'):
        binary_conv_cfg(0, conv)


# -- the config pairs -----------------------------------------------------------------------
def _pairs():
    """(stage-1 config, stage-2 config) of every two-stage pair in the repository."""
    pairs = [('quickstart/fcos_groupnet-r18_stage1-tanh_shapes.py',
              'quickstart/fcos_groupnet-r18_shapes.py'),
             ('quickstart/deeplabv3_groupnet-r18_stage1-tanh_shapes.py',
              'quickstart/deeplabv3_groupnet-r18_shapes.py')]
    for path in sorted(glob.glob(osp.join(CONFIGS, 'fcos', '*_stage1-tanh_*.py')) +
                       glob.glob(osp.join(CONFIGS, 'deeplabv3_groupnet', '*_stage1-tanh_*.py'))):
        rel = osp.relpath(path, CONFIGS)
        pairs.append((rel, rel.replace('_stage1-tanh_', '_')))
    return pairs


PAIRS = _pairs()


def test_every_binary_dense_config_has_its_stage1():
    binary = [osp.relpath(p, CONFIGS) for p in
              glob.glob(osp.join(CONFIGS, 'fcos', 'fcos_groupnet*.py')) +
              glob.glob(osp.join(CONFIGS, 'deeplabv3_groupnet', 'deeplabv3_groupnet*.py'))
              if '_stage1-tanh_' not in p]
    assert sorted(binary) == sorted(s2 for s1, s2 in PAIRS if not s2.startswith('quickstart'))
    assert len(binary) == 4 + 5
    with open(osp.join(CONFIGS, 'fcos_groupnet.py')) as f:
        entry = f.read()
    assert 'fcos/fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py' in entry
    assert Config.fromfile(osp.join(CONFIGS, 'fcos_groupnet.py')).load_from == \
        Config.fromfile(osp.join(CONFIGS, 'fcos', 'fcos_groupnet-r18-5b_fpn_1x_coco.py')).load_from


def _binarizers(cfg):
    """(backbone conv, dense conv) binarizer configs of a detector or segmentor config."""
    m = cfg.model
    dense = m.neck.conv_cfg if 'neck' in m else m.decode_head.branch_conv_cfg
    return m.backbone.conv_cfg, dense


def _without_binarizers(model_cfg):
    m = copy.deepcopy(model_cfg)
    for conv in (m.backbone.conv_cfg, m.get('neck', {}).get('conv_cfg'),
                 m.get('bbox_head', {}).get('conv_cfg'),
                 m.get('decode_head', {}).get('branch_conv_cfg')):
        if conv is not None:
            conv.pop('act_binarizer')
            conv.pop('weight_binarizer')
    m.backbone.pop('init_cfg', None)
    return m


@pytest.mark.parametrize('stage1, stage2', PAIRS, ids=lambda p: osp.basename(p)[:-3])
def test_stage1_is_stage2_with_the_tanh_proxy_and_stage2_loads_it(stage1, stage2):
    s1, s2 = (Config.fromfile(osp.join(CONFIGS, p)) for p in (stage1, stage2))
    # the same model but for the binarizers (and the full-precision init of stage 1)
    assert _without_binarizers(s1.model) == _without_binarizers(s2.model)
    (bb1, dense1), (bb2, dense2) = _binarizers(s1), _binarizers(s2)
    assert bb1.act_binarizer == dict(type='FPProxy', kind='tanh') and bb1.weight_binarizer is None
    assert dense1.act_binarizer == dict(type='BaseShiftProxy') and dense1.weight_binarizer is None
    assert bb2.act_binarizer == dict(type='ApproxSign')
    assert dense2.act_binarizer == dict(type='BaseShiftSign')
    for conv in (bb1, bb2, dense1, dense2):
        assert conv.pad_value == 1.0  # Group-Net's +1 padding in both stages
    if stage1.startswith('quickstart'):
        assert s1.model.backbone.get('init_cfg') is None  # from scratch: no download
    else:  # stage 1 starts from the ImageNet ResNet, stage 2 from stage 1 only
        assert s1.model.backbone.init_cfg.type == 'Pretrained'
        assert s2.model.backbone.init_cfg is None
    assert s1.load_from is None
    by_epoch = 'max_epochs' in s1.train_cfg
    last = (f'epoch_{s1.train_cfg.max_epochs}.pth' if by_epoch else
            f'iter_{s1.train_cfg.max_iters}.pth')
    assert s2.load_from == f'work_dirs/{osp.basename(stage1)[:-3]}/{last}'


@pytest.mark.parametrize('stage1, stage2', [PAIRS[0], PAIRS[1]], ids=['fcos', 'deeplabv3'])
def test_quickstart_stage1_checkpoint_loads_key_for_key(stage1, stage2):
    """The stage-1 detector / segmentor and its stage-2 twin have the same state-dict keys and
    shapes (thresholds included), and the binarized model computes with stage 1's weights."""
    from mmdet.utils import register_all_modules as det_modules
    from mmseg.utils import register_all_modules as seg_modules
    det_modules(init_default_scope=False)
    seg_modules(init_default_scope=False)
    s1, s2 = (Config.fromfile(osp.join(CONFIGS, p)) for p in (stage1, stage2))
    init_default_scope(s1.default_scope)
    torch.manual_seed(0)
    m1, m2 = ROOT_MODELS.build(s1.model), ROOT_MODELS.build(s2.model)
    sd1, sd2 = m1.state_dict(), m2.state_dict()
    assert {k: v.shape for k, v in sd1.items()} == {k: v.shape for k, v in sd2.items()}
    assert any(k.endswith('act_binarizer.bias') for k in sd1)  # the thresholds travel
    m2.load_state_dict(sd1)
    bconv = next(m for m in m2.modules() if isinstance(m, MultiBaseBinaryConv2d))
    pconv = next(m for m in m1.modules() if isinstance(m, MultiBaseBinaryConv2d))
    torch.testing.assert_close(bconv.act_binarizer.bias, pconv.act_binarizer.bias)
    assert bconv.weight_bits == 1 and pconv.weight_bits == 32


def test_quickstart_fp_reference_trains_both_stages_length():
    fcos = Config.fromfile(osp.join(CONFIGS, 'quickstart', 'fcos_groupnet-r18_shapes.py'))
    fcos_fp = Config.fromfile(osp.join(CONFIGS, 'quickstart', 'fcos_r18_shapes.py'))
    assert fcos_fp.train_cfg.max_epochs == fcos.stage1_epochs + fcos.train_cfg.max_epochs
    assert fcos_fp.param_scheduler[-1].T_max == fcos_fp.train_cfg.max_epochs
    assert fcos_fp.load_from is None
    seg = Config.fromfile(osp.join(CONFIGS, 'quickstart', 'deeplabv3_groupnet-r18_shapes.py'))
    seg_fp = Config.fromfile(osp.join(CONFIGS, 'quickstart', 'deeplabv3_r18_shapes.py'))
    assert seg_fp.train_cfg.max_iters == seg.stage1_iters + seg.train_cfg.max_iters
    assert seg_fp.param_scheduler[0].end == seg_fp.train_cfg.max_iters
    assert seg_fp.load_from is None


# -- the benchmark's plan and checks --------------------------------------------------------
def test_plan_orders_stage1_first_and_gives_equal_total_length():
    plan = two_stage.Plan({'gn5': 'gn5-s1', 'gn3': 'gn3-s1'}, 'epochs', (4, 6))
    assert plan.order(['fp', 'gn5', 'gn3', 'gn5']) == ['fp', 'gn5-s1', 'gn5', 'gn3-s1', 'gn3']
    assert plan.order(['gn5-s1', 'gn5']) == ['gn5-s1', 'gn5']
    assert [plan.length(k) for k in ('gn5-s1', 'gn5', 'fp')] == [4, 6, 10]
    assert [plan.stage(k) for k in ('gn5-s1', 'gn5', 'fp')] == [1, 2, 0]
    with pytest.raises(ValueError, match='two ints'):
        two_stage.Plan({}, 'epochs', (4, 0))
    with pytest.raises(ValueError, match='unit'):
        two_stage.Plan({}, 'steps', (4, 4))
    with pytest.raises(ValueError, match='both a stage 1 and a stage 2'):
        two_stage.Plan({'a': 'b', 'b': 'c'}, 'iters', (1, 1))


def _run(key, value, **metrics):
    return dict(key=key, seed=0, value=value, metric='m', metric_name='m', metrics=metrics)


def test_checks_catch_nan_nonfinite_loss_and_stage2_below_its_start():
    plan = two_stage.Plan({'b': 'b-s1'}, 'iters', (1, 1))
    nf, start = two_stage.NONFINITE_KEY, two_stage.START_PREFIX + 'm'
    ok, lines = two_stage.check_runs([_run('fp', 0.5, **{nf: 0.}),
                                      _run('b', 0.4, **{nf: 0., start: 0.3})], plan)
    assert ok and lines[1].endswith('ok, start 0.3 -> end 0.4')
    for runs, why in [([_run('fp', float('nan'), **{nf: 0.})], 'is nan'),
                      ([_run('fp', 0.5, **{nf: 2.})], '2 iterations'),
                      ([_run('fp', 0.5)], 'no loss check'),
                      ([_run('b', 0.2, **{nf: 0., start: 0.3})], 'below its binarized start'),
                      ([_run('b', 0.2, **{nf: 0.})], 'no start evaluation')]:
        ok, lines = two_stage.check_runs(runs, plan)
        assert not ok and why in lines[0], lines


class _TinyModel(nn.Module):
    """What the hook touches of an OpenMMLab model: a data preprocessor and mode='tensor'."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.bn = nn.BatchNorm2d(2)
        self.data_preprocessor = lambda batch, training: dict(inputs=batch)

    def forward(self, inputs, mode='tensor'):
        assert mode == 'tensor'
        return self.bn(self.conv(inputs))


def test_check_hook_evaluates_start_with_reestimated_bn_and_restores_it():
    torch.manual_seed(0)
    model = _TinyModel()
    samples = [torch.randn(1, 3, 3) * 3 + 5 for _ in range(12)]
    loader = types.SimpleNamespace(dataset=samples, batch_size=4, collate_fn=torch.stack)
    seen = {}
    hook = two_stage.TwoStageCheckHook(eval_start=True, bn_batches=3)

    class ValLoop:
        def run(self):  # what the Runner's ValLoop does with the hooks: metrics from the model
            seen['mean'] = model.bn.running_mean.clone()
            hook.after_val_epoch(runner, metrics={'m': float(model.bn.running_mean.sum())})

    runner = types.SimpleNamespace(model=model, train_dataloader=loader, val_loop=ValLoop())
    before = {k: v.clone() for k, v in model.bn.state_dict().items()}
    model.train()
    state = np.random.get_state()[1].copy()
    hook.before_train(runner)
    # the start was evaluated with statistics re-estimated over the 3 batches of 4 = all 12
    # samples (a cumulative mean)
    conv_out = model.conv(torch.stack(samples)).detach()
    torch.testing.assert_close(seen['mean'], conv_out.mean((0, 2, 3)))
    assert hook.start == {'m': float(seen['mean'].sum())}
    # ... and the run starts as it would have without the check
    for k, v in model.bn.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert model.bn.momentum == 0.1 and model.training
    assert (np.random.get_state()[1] == state).all()
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('inf'))))
    hook.after_train_iter(runner, 1, outputs=dict(loss=torch.tensor(1.0)))
    final = {'m': 2.0}
    hook.after_val_epoch(runner, metrics=final)
    assert final == {'m': 2.0, 'start/m': hook.start['m'], 'check/nonfinite_iters': 1.0}
    with pytest.raises(ValueError, match='bn_batches'):
        two_stage.TwoStageCheckHook(bn_batches=-1)


def test_check_batches_leave_an_infinite_sampler_running():
    """mmengine's InfiniteSampler shares one index generator between its iterators: a second
    iterator over the training loader, once closed, would end the training loop's (an
    iteration-based stage 2 then stopped with StopIteration). The check draws its batches
    without the sampler."""
    from mmengine.dataset import InfiniteSampler
    from torch.utils.data import DataLoader
    data = list(range(6))
    loader = DataLoader(data, batch_size=2, sampler=InfiniteSampler(data, seed=0))
    loop = iter(loader)
    next(loop)
    batches = list(two_stage._training_batches(loader, 2))
    assert len(batches) == 2 and all(len(b) == 2 for b in batches)
    for _ in range(5):  # the loop's iterator goes on, past one pass over the data
        assert len(next(loop)) == 2


def test_bench_rows_are_config_switches():
    bench = _load_tool('bench_fcos_shapes')
    rows = bench.EXPERIMENT.rows
    assert bench.STAGE1_OF == {k: k + '-s1' for k in (
        'gn5', 'gn3', 'gn1', 'gn5-gn', 'gn5-realds', 'gn5-soft', 'gn5-noshift')}
    for key, row in rows.items():
        if key.startswith('gn'):
            k = int(re.match(r'gn(\d)', key).group(1))
            assert all(row.cfg_options[f'model.{p}.num_bases'] == k
                       for p in ('backbone', 'neck', 'bbox_head')), key
    assert rows['gn5-scratch'].cfg_options['load_from'] is None
    assert rows['gn5-realds'].cfg_options['model.backbone.downsample'] == 'real'
    assert rows['gn5-soft'].cfg_options['model.backbone.soft_gate'] is True
    assert rows['gn5-gn'].cfg_options['model.bbox_head.norm_cfg']['type'] == 'GN'
    # the switch applies to both stages
    for key in ('gn5-gn', 'gn5-realds', 'gn5-soft'):
        assert rows[key].cfg_options == rows[key + '-s1'].cfg_options
    noshift = rows['gn5-noshift'].cfg_options['model.neck.conv_cfg.act_binarizer']
    assert noshift['type'] == 'ApproxSign'
    args = bench.parse_args(['--work-dir', '/tmp/x', '--setting', 'multiscale'])
    assert args.models == ['fp', 'gn5', 'gn3'] and args.json.endswith('results_multiscale.json')
    with pytest.raises(SystemExit):
        bench.parse_args(['--epochs', '3'])  # lengths are --stage-epochs


# -- the multi-scale shapes -----------------------------------------------------------------
def _shapes():
    spec = importlib.util.spec_from_file_location(
        '_shapes', osp.join(ROOT, 'mmbnn', 'datasets', 'shapes.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_multiscale_scenes_spread_over_p3_to_p5_with_unlabelled_clutter():
    shapes = _shapes()
    rng = np.random.default_rng(0)
    sides = []
    for _ in range(150):
        image, objects = shapes.render_scene(rng, size=128, max_objects=6, min_radius=6,
                                             max_radius=48, log_radius=True, clutter=4)
        assert image.shape == (128, 128, 3)
        sides += [max(o['bbox'][2:]) for o in objects]
    sides = np.array(sides)
    # FCOS's regression ranges of the quick start: P3 < 32 px, P4 32-64, P5 64-128
    shares = [(sides < 32).mean(), ((sides >= 32) & (sides < 64)).mean(), (sides >= 64).mean()]
    assert all(s > 0.12 for s in shares), shares
    assert sides.max() <= 97
    # clutter pixels are drawn but not labelled: same draws without clutter differ in pixels
    a, objs_a = shapes.render_scene(np.random.default_rng(1), size=64, clutter=0)
    b, _ = shapes.render_scene(np.random.default_rng(1), size=64, clutter=3)
    assert (a != b).any()
    with pytest.raises(ValueError, match='max_radius'):
        shapes.render_scene(rng, size=64, min_radius=8, max_radius=40)


def test_make_shapes_coco_multiscale_options(tmp_path):
    sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
    import make_shapes_coco
    out = tmp_path / 'ms'
    make_shapes_coco.main(['--out', str(out), '--num-train', '2', '--num-val', '6', '--size',
                           '128', '--max-objects', '6', '--min-radius', '6', '--max-radius', '48',
                           '--log-radius', '--clutter', '4'])
    with open(out / 'annotations' / 'instances_val.json') as f:
        coco = json.load(f)
    assert {(i['width'], i['height']) for i in coco['images']} == {(128, 128)}
    assert coco['annotations']
    assert all(0 < a['bbox'][2] <= 97 and 0 < a['bbox'][3] <= 97 for a in coco['annotations'])
    for bad in (['--size', '64', '--max-radius', '40'], ['--clutter', '-1']):
        with pytest.raises(SystemExit):
            make_shapes_coco.parse_args(['--out', 'x', *bad])
