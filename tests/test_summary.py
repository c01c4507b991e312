"""The model summary (mmbnn.analysis, tools/analysis/summary.py) against hand-computed counts."""
import importlib.util
import json
import math
import os
import os.path as osp
import subprocess

import pytest
import torch
import yaml
from torch import nn

from conftest import CONFIGS, ROOT, python_tool
from mmbnn.analysis import format_summary, summarize, update_metafile
from mmbnn.layers import BinaryConv2d, BinaryLinear


def conv_macs(c_out, h_out, w_out, c_in, groups, kh, kw):
    """MACs of one convolution on one image: every output value takes (C_in / groups) kh kw."""
    return c_out * h_out * w_out * (c_in // groups) * kh * kw


def only_row(summary, name):
    rows = [r for r in summary.rows if r.name == name]
    assert len(rows) == 1, [r.name for r in summary.rows]
    return rows[0]


def check_totals(d):
    """The totals of ``ModelSummary.to_dict()`` (or its JSON) against its rows."""
    rows, t = d['rows'], d['totals']
    assert t['params'] == sum(r['num_params'] for r in rows)
    for bits, n in t['params_by_bits'].items():
        assert n == sum(r['params'].get(bits, 0) for r in rows)
    assert t['bops'] == sum(r['bops'] for r in rows)
    assert t['flops'] == sum(r['flops'] for r in rows)
    assert t['macs'] == t['bops'] + t['flops'] == sum(r['macs'] for r in rows)
    assert sum(t['macs_by_precision'].values()) == t['macs']
    assert t['macs_by_precision'].get('1x1', 0) == t['bops']
    assert t['ops'] == pytest.approx(t['bops'] / 64 + t['flops'])
    assert t['size_kb'] == pytest.approx(sum(r['memory_kb'] for r in rows))
    assert t['fp32_size_kb'] == pytest.approx(t['params'] * 4 / 1024)
    assert t['compression_ratio'] == pytest.approx(t['fp32_size_kb'] / t['size_kb'])
    assert t['binary_mac_share'] == pytest.approx(t['bops'] / t['macs'])
    for r in rows:
        assert r['memory_kb'] == pytest.approx(
            sum(int(b) * n for b, n in r['params'].items()) / 8 / 1024)
        assert r['bops'] == (r['macs'] if r['input_bits'] == r['weight_bits'] == 1 else 0)


# ------------------------------------------------------------------ hand-computed single layers
@pytest.mark.parametrize('binarizers, extra_32bit', [
    (dict(), 0),  # STESign + XNORWeight: no parameters of their own
    # RSign: one threshold per input channel; LearnedScaleWeight: one scale per output channel
    (dict(act_binarizer=dict(type='RSign'), weight_binarizer=dict(type='LearnedScaleWeight')),
     8 + 16),
])
def test_binary_conv_row(binarizers, extra_32bit):
    conv = BinaryConv2d(8, 16, 3, stride=2, padding=1, bias=True, **binarizers)
    s = summarize(conv, (8, 15, 15))
    h_out = (15 + 2 * 1 - 3) // 2 + 1  # 8
    macs = conv_macs(16, h_out, h_out, 8, 1, 3, 3)
    row, = s.rows  # the binarizers are folded into the layer
    assert (row.name, row.type, row.input_bits, row.weight_bits) == \
        ('BinaryConv2d', 'BinaryConv2d', 1, 1)
    assert row.output_shape == [1, 16, h_out, h_out]
    assert (row.bops, row.flops, row.macs) == (macs, 0, macs)
    assert row.params == {1: 16 * 8 * 3 * 3, 32: 16 + extra_32bit}  # bias (+ binarizers) 32-bit
    assert row.memory_kb == (16 * 8 * 9 * 1 + (16 + extra_32bit) * 32) / 8 / 1024
    assert s.ops == macs / 64
    assert s.params == sum(p.numel() for p in conv.parameters())


def test_real_conv_row_counts_one_flop_per_mac():
    # mmengine's FlopAnalyzer (fvcore convention) counts one "flop" per multiply-accumulate
    conv = nn.Conv2d(6, 8, (5, 3), stride=1, padding=(0, 1), dilation=1, groups=2, bias=False)
    s = summarize(conv, (6, 12, 10))
    row, = s.rows
    macs = conv_macs(8, 12 - 4, 10, 6, 2, 5, 3)
    assert (row.input_bits, row.weight_bits, row.output_shape) == (32, 32, [1, 8, 8, 10])
    assert (row.bops, row.flops) == (0, macs)
    assert row.params == {32: 8 * 3 * 5 * 3}
    assert row.memory_kb == 8 * 3 * 5 * 3 * 4 / 1024
    assert s.ops == macs and s.compression_ratio == 1.0


@pytest.mark.parametrize('binary', [True, False])
def test_linear_row(binary):
    fc = BinaryLinear(20, 7) if binary else nn.Linear(20, 7)
    s = summarize(fc, inputs=torch.randn(3, 20))  # counts are per sample (batch of 3 here)
    row, = s.rows
    macs = 20 * 7
    assert row.output_shape == [3, 7]
    assert (row.bops, row.flops) == ((macs, 0) if binary else (0, macs))
    assert row.params == ({1: 140, 32: 7} if binary else {32: 147})
    assert row.memory_kb == ((140 + 7 * 32) if binary else 147 * 32) / 8 / 1024
    assert s.ops == (macs / 64 if binary else macs)


def test_k_bit_macs_are_flops_listed_apart():
    conv = BinaryConv2d(4, 4, 1, bias=False, act_binarizer=dict(type='DoReFaActivation', bits=2),
                        weight_binarizer=dict(type='DoReFaWeight', bits=2))
    s = summarize(conv, (4, 5, 5))
    macs = conv_macs(4, 5, 5, 4, 1, 1, 1)
    assert (s.rows[0].input_bits, s.rows[0].weight_bits) == (2, 2)
    assert s.params_by_bits == {2: 16}
    assert (s.bops, s.flops, s.macs_by_precision) == (0, macs, {'2x2': macs})


def test_group_net_k_bases_as_one_grouped_conv():
    # Group-Net's K bases of a layer: one grouped conv, K*C -> K*C', groups=K
    k, c, c_out, h = 5, 8, 12, 10
    bases = BinaryConv2d(k * c, k * c_out, 3, padding=1, groups=k, bias=False)
    single = BinaryConv2d(c, c_out, 3, padding=1, bias=False)
    s_bases, s_single = summarize(bases, (k * c, h, h)), summarize(single, (c, h, h))
    one_base = conv_macs(c_out, h, h, c, 1, 3, 3)
    assert s_single.bops == one_base
    assert s_bases.bops == k * one_base == conv_macs(k * c_out, h, h, k * c, k, 3, 3)
    assert s_bases.flops == 0
    assert s_bases.params_by_bits == {1: k * c_out * c * 9}


# ------------------------------------------------------------------ whole models
class _Net(nn.Module):
    """A shared conv called twice, a real head, and parameters held by a non-leaf module."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.shared = BinaryConv2d(4, 4, 3, padding=1)
        self.blocks = nn.ModuleList([self.shared, self.shared])  # the same module twice
        self.gate = nn.Parameter(torch.zeros(4))  # a parameter of the root itself
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x) * self.gate.view(1, -1, 1, 1).sigmoid()
        return self.fc(x.mean((2, 3)) @ torch.eye(4))  # a matmul run by the root itself


def test_every_parameter_and_mac_once():
    net = _Net()
    s = summarize(net, (3, 6, 6))
    names = [r.name for r in s.rows]
    assert names == ['_Net', 'stem', 'shared', 'fc']
    assert s.params == sum(p.numel() for p in net.parameters())
    shared = only_row(s, 'shared')
    assert shared.calls == 2 and shared.bops == 2 * conv_macs(4, 6, 6, 4, 1, 3, 3)
    root = only_row(s, '_Net')
    assert root.params == {32: 4} and root.flops == 4 * 4  # the gate; the 1x4 @ 4x4 matmul
    assert s.flops == conv_macs(4, 6, 6, 3, 1, 3, 3) + 16 + 4 * 2
    check_totals(s.to_dict())
    assert net.training  # the training mode is restored
    text = format_summary(s)
    assert 'shared' in text and '(2 calls)' in text and 'OPs' in text


def bireal_net18():
    """Bi-Real Net-18 as mmbnn builds it: GroupNetResNet with one base, the 16 3x3 convs of the
    basic blocks binary; the 7x7 stem, the 3 downsample shortcuts (avgpool 2x2 + real 1x1 conv +
    BN) and the FC real."""
    from mmbnn.models.backbones import GroupNetResNet
    backbone = GroupNetResNet(
        depth=18, num_bases=1, downsample='avgpool', order=('norm', 'add'), act_cfg=None,
        conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                      weight_binarizer=dict(type='XNORWeight')))

    class BiReal18(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.head = nn.Linear(512, 1000)

        def forward(self, x):
            return self.head(self.backbone(x)[-1].mean((2, 3)))

    return BiReal18()


def test_bireal_net18_ops_match_the_paper():
    net = bireal_net18()
    s = summarize(net, (3, 224, 224))
    # hand counts: stem 7x7/2 -> 112; downsample 1x1 convs after the 2x2 avgpool; FC 512 -> 1000
    flops = (conv_macs(64, 112, 112, 3, 1, 7, 7)
             + sum(conv_macs(c, h, h, c // 2, 1, 1, 1) for c, h in ((128, 28), (256, 14),
                                                                    (512, 7)))
             + 512 * 1000)
    bops = 4 * conv_macs(64, 56, 56, 64, 1, 3, 3) + sum(
        conv_macs(c, h, h, c // 2, 1, 3, 3) + 3 * conv_macs(c, h, h, c, 1, 3, 3)
        for c, h in ((128, 28), (256, 14), (512, 7)))
    print(f'\nBi-Real Net-18 @224: BOPs {s.bops:.4e}, FLOPs {s.flops:.4e}, OPs {s.ops:.4e}, '
          f'size {s.size_kb / 1024:.2f} MB, compression {s.compression_ratio:.2f}x')
    assert (s.bops, s.flops) == (bops, flops)
    assert s.ops == pytest.approx(1.63e8, rel=0.02)  # Bi-Real Net's paper
    assert len([r for r in s.rows if r.binary]) == 16
    assert s.params == sum(p.numel() for p in net.parameters())
    assert s.params_by_bits[1] == sum(r.params.get(1, 0) for r in s.rows if r.binary)
    check_totals(s.to_dict())


# ------------------------------------------------------------------ metafile
METAFILE = {
    'Collections': [{'Name': 'BiReal', 'Metadata': {'Training Data': 'ImageNet-1k'}}],
    'Models': [
        {'Name': 'other', 'Metadata': {'FLOPs': 1, 'Parameters': 2}, 'In Collection': 'BiReal'},
        {'Name': 'tiny', 'In Collection': 'BiReal',
         'Metadata': {'Training Data': 'ImageNet-1k', 'FLOPs': 0},
         'Results': [{'Task': 'Image Classification', 'Dataset': 'ImageNet-1k',
                      'Metrics': {'Top 1 Accuracy': 50.0}}],
         'Config': 'configs/tiny.py'},
    ],
}


def write_metafile(path):
    with open(path, 'w') as f:
        yaml.safe_dump(METAFILE, f, sort_keys=False)


def test_update_metafile_keeps_the_rest(tmp_path):
    path = tmp_path / 'metafile.yml'
    write_metafile(path)
    s = summarize(BinaryConv2d(4, 4, 3, padding=1), (4, 5, 5))
    update_metafile(str(path), 'tiny', s)
    with open(path) as f:
        meta = yaml.safe_load(f)
    tiny = meta['Models'][1]
    assert list(tiny) == ['Name', 'In Collection', 'Metadata', 'Results', 'Config']
    assert tiny['Metadata'] == {'Training Data': 'ImageNet-1k', 'FLOPs': 0, 'BOPs': s.bops,
                                'OPs': round(s.ops), 'Parameters': s.params}
    assert meta['Models'][0] == METAFILE['Models'][0]
    assert meta['Collections'] == METAFILE['Collections']
    with pytest.raises(KeyError, match="'nope'.*other"):
        update_metafile(str(path), 'nope', s)


# ------------------------------------------------------------------ the tool
@pytest.fixture(scope='module', autouse=True)
def tool_procs(tmp_path_factory):
    """The tool on a classifier, a detector and a segmentor config, started side by side when
    this module's first test starts (they run while the tests above run: about 10 s each)."""
    tmp = tmp_path_factory.mktemp('summary')
    metafile = tmp / 'metafile.yml'
    write_metafile(metafile)
    cmds = {
        'cls': python_tool('analysis/summary.py', osp.join(CONFIGS, 'tiny_cls.py'),
                           '--shape', 32, 32, '--json', '--update-metafile', metafile,
                           '--model-name', 'tiny'),
        'det': python_tool('analysis/summary.py', osp.join(CONFIGS, 'tiny_det.py')),
        'seg': python_tool('analysis/summary.py', osp.join(CONFIGS, 'tiny_seg.py'), '--json'),
    }
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')  # 3 runs on 2 cores
    procs = {k: subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for k, cmd in cmds.items()}
    yield cmds, procs, metafile
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope='module')
def tool_runs(tool_procs):
    """``{name: (stdout, stderr)}`` of the runs, and ``'metafile'``; fails on a failed run."""
    cmds, procs, metafile = tool_procs
    out = {'metafile': metafile}
    for k, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        if proc.returncode != 0:
            pytest.fail(f'{k}: {" ".join(map(str, cmds[k]))} exited {proc.returncode}\n'
                        f'--- stdout ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-6000:]}')
        out[k] = (stdout, stderr)
    return out


def test_tool_classifier_json_and_metafile(tool_runs):
    stdout, stderr = tool_runs['cls']
    d = json.loads(stdout)
    assert d['model'] == 'ImageClassifier' and d['input_shape'] == [1, 3, 32, 32]
    check_totals(d)
    rows = {r['name']: r for r in d['rows']}
    # tiny_cls: conv_cfg makes every conv of the ResNet binary, the stem included
    stem = rows['backbone.conv1']
    assert stem['type'] == 'BinaryConv2d' and stem['output_shape'] == [1, 8, 16, 16]
    assert stem['bops'] == conv_macs(8, 16, 16, 3, 1, 7, 7)
    assert rows['head.fc']['flops'] == 64 * 2 and rows['head.fc']['bops'] == 0
    with open(tool_runs['metafile']) as f:
        tiny = yaml.safe_load(f)['Models'][1]
    t = d['totals']
    assert {k: tiny['Metadata'][k] for k in ('FLOPs', 'BOPs', 'OPs', 'Parameters')} == \
        dict(FLOPs=t['flops'], BOPs=t['bops'], OPs=round(t['ops']), Parameters=t['params'])
    assert tiny['Results'] == METAFILE['Models'][1]['Results']


def test_tool_detector_table(tool_runs):
    stdout, stderr = tool_runs['det']
    assert 'Input size (64, 96) from test_dataloader: Resize' in stderr  # Resize scale=(96, 64)
    assert 'FCOS, input (1, 3, 64, 96)' in stdout
    lines = {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}
    stem = lines['backbone.conv1']
    assert stem[1:4] == ['BinaryConv2d', '1/1', '8x32x48']
    assert stem[-2] == f'{conv_macs(8, 32, 48, 3, 1, 7, 7):,}'  # BOPs
    assert lines['backbone.layer4.1.conv2'][1] == 'BinaryConv2d'
    # the FCOS head's convs are shared by the 5 levels
    assert lines['bbox_head.cls_convs.0.conv'][1:6] == ['Conv2d', '32/32', '16x8x12', '(5',
                                                        'calls)']
    for key in ('BOPs', 'FLOPs', 'OPs', 'Compression'):
        assert key in lines


def test_tool_segmentor_json(tool_runs):
    d = json.loads(tool_runs['seg'][0])
    assert d['model'] == 'EncoderDecoder'
    assert d['input_shape'] == [1, 3, 48, 64]  # from the config's Resize scale=(64, 48)
    check_totals(d)
    rows = {r['name']: r for r in d['rows']}
    convs = [r for r in d['rows'] if r['name'].startswith('backbone.') and
             r['type'] == 'BinaryConv2d']
    assert len(convs) == 3 + 16 + 3  # deep stem, the blocks, the downsample shortcuts
    assert all(r['bops'] > 0 for r in convs)
    # stages 3 and 4 are dilated: their convs keep the 1/8 resolution
    assert rows['backbone.layer4.1.conv2']['output_shape'] == [1, 64, 6, 8]
    assert rows['decode_head.conv_seg']['flops'] == conv_macs(3, 6, 8, 16, 1, 1, 1)
    assert math.isclose(d['totals']['ops'], d['totals']['bops'] / 64 + d['totals']['flops'])


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'summary_tool', osp.join(ROOT, 'tools', 'analysis', 'summary.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_tool_arguments(capsys):
    tool = load_tool()
    for argv, message in ((['c.py', '--model-name', 'x'], '--update-metafile and --model-name'),
                          (['c.py', '--shape', '1', '2', '3', '4'], '--shape takes H, H W')):
        with pytest.raises(SystemExit) as e:
            tool.parse_args(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert tool.parse_args(['c.py', '--shape', '3', '32', '48']).shape == [3, 32, 48]


def test_input_shape_from_config():
    from mmengine.config import Config
    shape = load_tool().input_shape_from_config
    mmpretrain_test = [dict(type='LoadImageFromFile'),
                       dict(type='ResizeEdge', scale=256, edge='short'),
                       dict(type='CenterCrop', crop_size=224), dict(type='PackInputs')]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
        type='ImageNet', pipeline=mmpretrain_test)))))
    assert shape(cfg) == ((224, 224), 'test_dataloader: CenterCrop')
    mmdet_test = [dict(type='Resize', scale=(1333, 800), keep_ratio=True)]
    assert shape(Config(dict(test_pipeline=mmdet_test)))[0] == (800, 1333)  # (w, h) -> (h, w)
    assert shape(Config(dict(train_pipeline=[dict(type='RandomCrop', crop_size=(512, 256))])))[0] \
        == (512, 256)  # mmdet / mmseg RandomCrop: (h, w)
    assert shape(Config(dict(model=dict())))[0] is None
    # no resize or crop: mmseg pads every input to the data preprocessor's size, (h, w)
    no_resize = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    cfg = Config(dict(test_pipeline=no_resize,
                      model=dict(data_preprocessor=dict(type='SegDataPreProcessor',
                                                        size=(96, 64)))))
    assert shape(cfg) == ((96, 64), 'model.data_preprocessor.size')
    assert shape(Config(dict(data_preprocessor=dict(size=(48, 48)))))[0] == (48, 48)
