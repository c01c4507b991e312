"""tools/analysis/compare_digits.py runs end to end (on a tiny budget), as a user runs it."""
import importlib.util
import json
import os.path as osp

import pytest

from conftest import ROOT, python_tool, run

TOOL = 'analysis/compare_digits.py'


def test_compare_digits_end_to_end(tmp_path):
    out = tmp_path / 'results.json'
    proc = run(python_tool(TOOL, '--models', 'fp', 'groupnet-k3', '--epochs', '1',
                           '--subset', '64', '--work-dir', tmp_path / 'work', '--json', out))
    text = proc.stdout
    assert '64 train / 360 test images at 8x8, 1 epochs, seed 0' in text
    assert '| ResNet-18 (full precision) |' in text
    assert '| Group-Net ResNet-18, K=3 |' in text
    results = {r['model']: r for r in json.loads(out.read_text())['results']}
    assert set(results) == {'fp', 'groupnet-k3'}
    for r in results.values():
        assert 0 <= r['top1'] <= 100 and r['epochs'] == 1 and r['train_images'] == 64
    fp, gn = results['fp'], results['groupnet-k3']
    assert fp['bops'] == 0 and fp['flops'] > 0
    assert gn['bops'] > 0 and gn['flops'] < fp['flops'] and gn['size_kb'] < fp['size_kb']
    assert (tmp_path / 'work' / 'groupnet-k3' / 'seed0').is_dir()
    assert not list((tmp_path / 'work').rglob('*.pth'))  # no checkpoints

    # The saved results print again, without training.
    again = run(python_tool(TOOL, '--load-json', out, '--models', 'groupnet-k3')).stdout
    assert '| Group-Net ResNet-18, K=3 |' in again and 'full precision' not in again


def test_bad_arguments_are_refused(capsys):
    spec = importlib.util.spec_from_file_location(
        'compare_digits', osp.join(ROOT, 'tools', 'analysis', 'compare_digits.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for argv, message in [(['--models', 'groupnet-k7'], "invalid choice: 'groupnet-k7'"),
                          (['--epochs', '0'], '--epochs must be >= 1'),
                          (['--subset', '0'], '--subset must be >= 1')]:
        with pytest.raises(SystemExit) as exc:
            tool.parse_args(argv)
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert tool.parse_args([]).models == list(tool.MODELS)
