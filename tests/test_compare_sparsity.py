"""tools/analysis/compare_sparsity.py: end to end on a tiny budget, its arithmetic, its errors."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, python_tool, run

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import compare_sparsity  # noqa: E402


def test_runs_end_to_end_on_a_tiny_budget(tmp_path):
    out = tmp_path / 'results.json'
    proc = run(python_tool('analysis/compare_sparsity.py', '--ec', '0.1', '--epochs', '1',
                           '--subset', '32', '--img-size', '8', '--json', out), timeout=300)
    results = json.loads(out.read_text())['results']
    assert [(r['method'], r['ec']) for r in results] == [('sbnn', 0.1), ('pruned', 0.1)]
    sbnn, pruned = results
    for r in results:
        assert 0 <= r['top1'] <= 100
        assert r['active'] == pytest.approx(0.1, abs=1e-3)  # the trained model has its EC
        assert r['sparse_bops'] < 0.25 * r['bops']
        assert r['sparse_size_kb'] < r['size_kb']
    assert sbnn['bits_per_weight'] == pytest.approx(
        -(0.1 * math.log2(0.1) + 0.9 * math.log2(0.9)), abs=0.01)  # ~ binary entropy H(EC)
    assert pruned['bits_per_weight'] == pytest.approx(
        sbnn['bits_per_weight'] + 0.1, abs=1e-3)  # plus a sign per active weight
    assert sbnn['sparse_size_kb'] < pruned['sparse_size_kb']
    table = proc.stdout[proc.stdout.index('| weights |'):]
    assert table.count('\n|') == 3  # separator and two rows
    assert '| generalised {phi - tau, phi + tau} | 0.1 |' in table
    assert '| +-1, magnitude-pruned | 0.1 |' in table
    assert '32 train / 360 test images at 8x8' in proc.stdout


def test_sparse_summary_arithmetic():
    """The sparse size and BOPs of a summarised model, recomputed from the layers."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    from mmbnn.analysis import summarize
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sparse',
                                   'sbnn-irnet-r18-w16-ec10_1xb64_digits.py'))
    init_default_scope('mmpretrain')
    cfg.model.backbone.conv_cfg.weight_binarizer.ec = 0.05
    model = MODELS.build(cfg.model)
    model(torch.randn(2, 3, 8, 8), mode='tensor')  # fits tau and phi
    summary = summarize(model, input_shape=(3, 8, 8))
    s = compare_sparsity.sparse_summary(model, summary)
    bits, bops = summary.size_kb * 8192, 0.0
    for row in summary.rows:
        module = model.get_submodule(row.name)
        binarizer = getattr(module, 'weight_binarizer', None)
        if type(binarizer).__name__ == 'SparseBinaryWeight':
            n = module.weight.numel()
            k = max(1, round(0.05 * n))
            bits += math.log2(math.comb(n, k)) - n
            bops += row.macs * (k / n + module.groups / module.out_channels)
        else:
            bops += row.bops
    assert s['sparse_size_kb'] == pytest.approx(bits / 8192)
    assert s['sparse_bops'] == pytest.approx(bops)
    assert s['sparse_ops'] == pytest.approx(bops / 64 + summary.flops)
    assert s['sparse_size_kb'] < s['size_kb'] and s['sparse_bops'] < 0.2 * s['bops']


@pytest.mark.parametrize('args,message', [
    (['--ec', '0'], 'EC (the fraction of active weights) must be in (0, 1], got 0.0'),
    (['--ec', '0.1', '1.5'], 'must be in (0, 1], got 1.5'),
    (['--epochs', '0'], '--epochs must be >= 1'),
    (['--methods', 'xnor'], "invalid choice: 'xnor'"),
])
def test_bad_arguments(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        compare_sparsity.parse_args(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_ec_from_the_command_line():
    proc = subprocess.run(python_tool('analysis/compare_sparsity.py', '--ec', '-0.5'), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and 'EC (the fraction of active weights)' in proc.stderr
