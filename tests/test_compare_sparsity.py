"""tools/analysis/compare_sparsity.py: end to end on a tiny budget, its arithmetic, its errors."""
import json
import math
import os.path as osp
import sys

import pytest
import torch

from conftest import ROOT, python_tool, run

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import compare_sparsity  # noqa: E402


def H(p):
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def test_runs_end_to_end_on_a_tiny_budget(tmp_path):
    out = tmp_path / 'results.json'
    proc = run(python_tool('analysis/compare_sparsity.py', '--models', 'dense', 'sbnn-ec0.1',
                           'sbnn-quantile-ec0.1', 'pruned-ec0.1', 'pruned-ec0.077',
                           '--epochs', '1', '--subset', '32', '--json', out), timeout=600)
    doc = json.loads(out.read_text())
    assert doc['format'] == 'mmbnn.experiment/1'
    runs = {r['key']: r for r in doc['runs']}
    assert list(runs) == ['dense', 'sbnn-ec0.1', 'sbnn-quantile-ec0.1', 'pruned-ec0.1',
                          'pruned-ec0.077']
    for key, r in runs.items():
        n = sum(r['layer_weights'].values())
        k = {name: round(f * r['layer_weights'][name]) for name, f in r['layer_active'].items()}
        bits = sum(math.log2(math.comb(r['layer_weights'][name], k[name])) for name in k)
        if key.startswith('pruned'):
            bits += sum(k.values())  # a sign bit per kept weight
        assert r['bits_per_weight'] == pytest.approx(bits / n, rel=1e-9), key
        assert r['active'] == pytest.approx(sum(k.values()) / n, rel=1e-9), key
        assert r['checkpoint'] is None  # a temporary folder: nothing kept
    for key, ec in (('sbnn-quantile-ec0.1', 0.1), ('pruned-ec0.1', 0.1),
                    ('pruned-ec0.077', 0.077)):
        # exact per layer: every layer at EC, within one weight
        for name, f in runs[key]['layer_active'].items():
            assert f == pytest.approx(ec, abs=1 / runs[key]['layer_weights'][name]), (key, name)
        assert runs[key]['sparse_size_kb'] < runs[key]['size_kb']
        assert runs[key]['sparse_bops'] < 0.25 * runs[key]['bops']
    assert runs['sbnn-quantile-ec0.1']['bits_per_weight'] == pytest.approx(H(0.1), abs=0.01)
    assert runs['pruned-ec0.1']['bits_per_weight'] == pytest.approx(H(0.1) + 0.1, abs=0.01)
    # bits-matched pruned: the storage of the generalised domain at EC 0.1
    assert runs['pruned-ec0.077']['bits_per_weight'] == pytest.approx(H(0.1), abs=0.01)
    # the dense reference: +-1 weights at the domain's dense setting, dense BOPs
    assert runs['dense']['bits_per_weight'] == pytest.approx(1.0, abs=1e-3)
    assert runs['dense']['sparse_bops'] == runs['dense']['bops']
    # the budget starts dense (tau = 1, phi = 0: half of the weights at +1)
    assert 0.4 < runs['sbnn-ec0.1']['active'] < 0.6
    text = proc.stdout
    assert '| generalised, per-layer EC | 0.1 |' in text
    assert '| +-1, magnitude-pruned per layer (bits of EC 0.1) | 0.077 |' in text
    assert '| layer | weights | sbnn EC 0.1 |' in text
    assert '| pruned +-1 at these bits (%) |' in text
    assert '32 train / 360 test images at 8x8, 1 epoch' in text


def test_bits_matched_pruned_ec():
    for ec, expected in ((0.25, 0.165), (0.1, 0.077), (0.05, 0.041)):
        e = compare_sparsity.bits_matched_pruned_ec(ec)
        assert e == expected
        assert H(e) + e == pytest.approx(H(ec), abs=2e-3)


def test_rows():
    keys = [r.key for r in compare_sparsity.rows_for('digits')]
    assert keys == ['dense', 'sbnn-ec0.25', 'sbnn-ec0.1', 'sbnn-ec0.05',
                    'sbnn-quantile-ec0.25', 'sbnn-quantile-ec0.1', 'sbnn-quantile-ec0.05',
                    'pruned-ec0.25', 'pruned-ec0.1', 'pruned-ec0.05', 'pruned-ec0.165',
                    'pruned-ec0.077', 'pruned-ec0.041']
    for r in compare_sparsity.rows_for('mnist5k'):
        assert r.config.endswith('_mnist5k.py')
        assert osp.isfile(osp.join(ROOT, 'configs', r.config))


def fake_run(key, seed, value, bits, ec, layers=None):
    return dict(key=key, name=key, seed=seed, value=value, bits_per_weight=bits, active=ec,
                cfg_options={compare_sparsity.EC_KEY: ec}, sparse_size_kb=1.0,
                sparse_bops=1e6, layer_active=layers or {'a': ec}, layer_weights={'a': 10})


def test_equal_bits_interpolates_the_pruned_rows():
    runs = [fake_run('pruned-ec0.1', 0, 90.0, 0.6, 0.1),
            fake_run('pruned-ec0.1', 1, 92.0, 0.6, 0.1),
            fake_run('pruned-ec0.05', 0, 80.0, 0.3, 0.05),
            fake_run('sbnn-quantile-ec0.1', 0, 88.0, 0.5, 0.1),
            fake_run('sbnn-ec0.05', 0, 70.0, 0.2, 0.05)]
    rows = {e['key']: e for e in compare_sparsity.equal_bits(runs)}
    # pruned means: (0.3, 80) and (0.6, 91); at 0.5 bits: 80 + 11 * 2 / 3
    assert rows['sbnn-quantile-ec0.1']['pruned_top1'] == pytest.approx(80 + 11 * 2 / 3)
    assert rows['sbnn-quantile-ec0.1']['delta'] == pytest.approx(88 - 80 - 11 * 2 / 3)
    assert rows['sbnn-ec0.05']['pruned_top1'] is None  # below the pruned range: not guessed
    table = compare_sparsity.equal_bits_table(runs)
    assert '| sbnn-ec0.05 | 0.05 | 0.200 | 70.00 | - | - |' in table
    # just outside the range (the storage of a rounded EC): the nearest pruned row
    assert compare_sparsity.interpolate([(0.3, 80.0), (0.6, 91.0)], 0.295) == 80.0
    assert compare_sparsity.interpolate([(0.3, 80.0), (0.6, 91.0)], 0.605) == 91.0
    assert compare_sparsity.interpolate([(0.3, 80.0), (0.6, 91.0)], 0.28) is None


def test_layer_table_means_over_seeds():
    runs = [fake_run('sbnn-ec0.1', 0, 90, 0.5, 0.1, {'backbone.l1': 0.5, 'backbone.l2': 0.1}),
            fake_run('sbnn-ec0.1', 1, 90, 0.5, 0.1, {'backbone.l1': 0.3, 'backbone.l2': 0.2})]
    for r in runs:
        r['layer_weights'] = {'backbone.l1': 8, 'backbone.l2': 16}
    table = compare_sparsity.layer_table(runs)
    assert '| l1 | 8 | 40.0 |' in table and '| l2 | 16 | 15.0 |' in table


def test_measure_against_an_independent_count(tmp_path):
    """measure(): the sparse size and BOPs of a saved model, recomputed from its layers."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    from mmbnn.analysis import summarize
    config = 'sparse/sbnn-quantile-irnet-r18-w16-ec10_1xb64_digits.py'
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    init_default_scope('mmpretrain')
    cfg.model.backbone.conv_cfg.weight_binarizer.ec = 0.05
    model = MODELS.build(cfg.model)
    model(torch.randn(2, 3, 8, 8), mode='tensor')  # fits tau and phi
    ckpt = tmp_path / 'final.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    m = compare_sparsity.measure(config, dict(cfg_options={compare_sparsity.EC_KEY: 0.05},
                                              checkpoint=str(ckpt), input_shape=[3, 8, 8]))
    summary = summarize(model, input_shape=(3, 8, 8))
    bits, bops, mask, n_all = summary.size_kb * 8192, 0.0, 0.0, 0
    for row in summary.rows:
        module = model.get_submodule(row.name)
        if type(getattr(module, 'weight_binarizer', None)).__name__ == 'SparseBinaryWeight':
            n = module.weight.numel()
            k = max(1, round(0.05 * n))
            bits += math.log2(math.comb(n, k)) - n
            mask += math.log2(math.comb(n, k))
            n_all += n
            bops += row.macs * (k / n + module.groups / module.out_channels)
        else:
            bops += row.bops
    assert m['sparse_size_kb'] == pytest.approx(bits / 8192)
    assert m['sparse_bops'] == pytest.approx(bops)
    assert m['bits_per_weight'] == pytest.approx(mask / n_all)
    assert m['active'] == pytest.approx(0.05, abs=1e-3)


@pytest.mark.parametrize('args,message', [
    (['--epochs', '0'], '--epochs must be >= 1'),
    (['--models', 'xnor'], "invalid choice: 'xnor'"),
    (['--dataset', 'cifar'], "invalid choice: 'cifar'"),
])
def test_bad_arguments(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        compare_sparsity.main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
