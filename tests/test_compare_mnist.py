"""tools/analysis/compare_mnist.py: every row of the digits table has its MNIST-5k twin (the same
model and hooks on MNIST-5k data), and a campaign resumes from its per-run files."""
import json
import os.path as osp
import sys

import pytest
from mmengine.config import Config

from conftest import ROOT
from mmbnn.utils import config_path

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import compare_digits  # noqa: E402
import compare_mnist  # noqa: E402


#: the rows whose twins are checked config against config (the ResNet-18 models of width 16,
#: whose networks do not depend on the input size); the others must have their file
RESNET_ROWS = ('fp', 'bnn', 'xnor', 'bireal', 'reactnet', 'irnet', 'groupnet-k1', 'groupnet-k3',
               'groupnet-k5', 'groupnet-k3-shift', 'groupnet-k5-shift')


def test_every_digits_row_has_its_mnist_twin():
    digits, mnist = compare_digits.EXPERIMENT.rows, compare_mnist.EXPERIMENT.rows
    assert list(mnist) == list(digits)
    for key, row in mnist.items():
        twin = digits[key]
        assert (row.name, row.cfg_options) == (twin.name, twin.cfg_options)
        assert osp.isfile(config_path(row.config)), row.config
    for key in RESNET_ROWS:
        a = Config.fromfile(config_path(mnist[key].config))
        b = Config.fromfile(config_path(digits[key].config))
        assert a.model == b.model, key  # the same network, width and head
        assert a.get('custom_hooks') == b.get('custom_hooks'), key  # clamps, EDE schedules
        assert a.train_dataloader.dataset.type == 'mmbnn.MNIST5kDataset', key
        assert a.test_dataloader.dataset.split == 'test' and a.img_size == 28, key
    with pytest.raises(ValueError, match='digits/NAME'):
        compare_mnist.mnist_config('mnist/x_1xb64_mnist5k.py')


def fake_run(key, seed, value):
    return dict(key=key, name=key, config=f'{key}.py', seed=seed, metric='accuracy/top1',
                metric_name='top-1 (%)', value=value, metrics={'accuracy/top1': value},
                bops=2e6, flops=5e4, ops=2e6 / 64 + 5e4, size_kb=10.0, params=10,
                train_cpu_s=1.0, checkpoint=None, epochs=1, iters=None, train_samples=4000,
                eval_samples=1000, eval_split='test', input_shape=[3, 28, 28])


def test_resume_dir_trains_each_run_once_and_merges(tmp_path, monkeypatch, capsys):
    trained = []

    def run(keys, seeds, **kwargs):
        trained.append((keys[0], seeds[0]))
        return [fake_run(keys[0], seeds[0], 90.0 + seeds[0])]

    monkeypatch.setattr(compare_mnist.EXPERIMENT, 'run', run)
    argv = ['--models', 'fp', 'bnn', '--seeds', '0', '1', '--resume-dir', str(tmp_path)]
    runs = compare_mnist.main(argv)
    assert trained == [('fp', 0), ('bnn', 0), ('fp', 1), ('bnn', 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'bnn_seed0.json', 'bnn_seed1.json', 'fp_seed0.json', 'fp_seed1.json']
    assert sorted((r['key'], r['seed'], r['value']) for r in runs) == [
        ('bnn', 0, 90.0), ('bnn', 1, 91.0), ('fp', 0, 90.0), ('fp', 1, 91.0)]
    (tmp_path / 'bnn_seed1.json').unlink()  # a campaign stopped before its last run
    trained.clear()
    compare_mnist.main(argv + ['--json', str(tmp_path / 'all.json')])
    assert trained == [('bnn', 1)]
    assert '90.50 ± 0.71' in capsys.readouterr().out  # both rows, both seeds, in the table
    merged = compare_mnist.main(['--load-json', str(tmp_path / 'all.json'), '--models', 'fp'])
    assert {(r['key'], r['seed']) for r in merged} == {('fp', 0), ('fp', 1)}
    with open(tmp_path / 'fp_seed0.json') as f:
        assert json.load(f)['runs'][0]['value'] == 90.0
