"""tools/analysis/compare_digits.py, as a user runs it: the models learn, the table says what the
JSON holds, runs from separate processes merge, and the kept checkpoint is the evaluated model."""
import importlib.util
import json
import statistics

import numpy as np
import pytest
import torch

from conftest import ROOT, python_tool, run

TOOL = 'analysis/compare_digits.py'
CHANCE = 100 / 10  # ten balanced classes


def table_rows(text):
    """{display name: cells} of the Markdown table in ``text``."""
    rows = {}
    for line in text.splitlines():
        if line.startswith('| ') and not line.startswith('| model'):
            cells = [c.strip() for c in line.strip('|').split('|')]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope='module')
def two_epochs(tmp_path_factory):
    """The full-precision ResNet and Bi-Real Net, 2 epochs on the full training split."""
    tmp = tmp_path_factory.mktemp('compare_digits')
    out = tmp / 'seed0.json'
    proc = run(python_tool(TOOL, '--models', 'fp', 'bireal', '--epochs', '2',
                           '--work-dir', tmp / 'work', '--json', out))
    return tmp, proc.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_models_learn_well_above_chance(two_epochs):
    _, text, doc = two_epochs
    assert 'scikit-learn digits, 1437 train / 360 test images at 8x8, 2 epochs, seed 0:' in text
    runs = {r['key']: r for r in doc['runs']}
    assert set(runs) == {'fp', 'bireal'}
    for r in runs.values():
        # 2 epochs reach about 55-70 % here; chance is 10 %
        assert r['value'] > 4 * CHANCE, r
        assert r['epochs'] == 2 and r['train_samples'] == 1437 and r['eval_samples'] == 360
        assert r['metric'] == 'accuracy/top1' and r['metrics']['accuracy/top1'] == r['value']
        assert r['train_cpu_s'] > 0 and r['input_shape'] == [3, 8, 8]
    fp, bireal = runs['fp'], runs['bireal']
    assert fp['bops'] == 0 and fp['flops'] > 0
    assert bireal['bops'] > 0 and bireal['flops'] < fp['flops'] / 10
    assert bireal['size_kb'] < fp['size_kb'] / 10
    assert bireal['ops'] == pytest.approx(bireal['bops'] / 64 + bireal['flops'])


@pytest.mark.slow
def test_table_prints_what_the_json_holds(two_epochs):
    _, text, doc = two_epochs
    rows = table_rows(text)
    for r in doc['runs']:
        cells = rows[r['name']]
        assert cells[0] == f'{r["value"]:.2f}' and cells[1] == f'{r["value"]:.2f}'  # one seed
        assert cells[2:6] == [f'{r["bops"] / 1e6:.2f}', f'{r["flops"] / 1e6:.2f}',
                              f'{r["ops"] / 1e6:.2f}', f'{r["size_kb"]:.1f}']
    assert [m['key'] for m in doc['models']] == ['fp', 'bireal']


@pytest.mark.slow
def test_runs_of_separate_processes_merge(two_epochs):
    tmp, _, doc = two_epochs
    # a second seed as another process would have written it
    other = json.loads(json.dumps(doc))
    for r in other['runs']:
        r['seed'], r['value'] = 1, r['value'] - 3.0
    (tmp / 'seed1.json').write_text(json.dumps(other))
    text = run(python_tool(TOOL, '--load-json', tmp / 'seed0.json', tmp / 'seed1.json',
                           '--models', 'bireal')).stdout
    assert 'seeds 0, 1:' in text
    rows = table_rows(text)
    assert list(rows) == ['Bi-Real Net-18']
    v0 = next(r['value'] for r in doc['runs'] if r['key'] == 'bireal')
    values = [v0, v0 - 3.0]
    mean, std = statistics.mean(values), statistics.stdev(values)
    assert rows['Bi-Real Net-18'][0] == f'{mean:.2f} ± {std:.2f}'
    assert rows['Bi-Real Net-18'][1] == f'{v0:.2f} / {v0 - 3.0:.2f}'


@pytest.mark.slow
def test_kept_checkpoint_is_the_evaluated_model(two_epochs):
    """The final checkpoint, loaded into a fresh model, gives the reported accuracy on the
    test split, computed here from the logits (not by the Runner's metric)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS

    from mmbnn.datasets import DigitsDataset
    tmp, _, doc = two_epochs
    run_ = next(r for r in doc['runs'] if r['key'] == 'bireal')
    assert run_['checkpoint'] == str(tmp / 'work' / 'bireal' / 'seed0' / 'final.pth')
    cfg = Config.fromfile(f'{ROOT}/configs/{run_["config"]}')
    init_default_scope('mmpretrain')
    model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    load_checkpoint(model, run_['checkpoint'], map_location='cpu', strict=True)
    model.eval()
    test = DigitsDataset(split='test')
    images = np.stack([test.get_data_info(i)['img'] for i in range(len(test))])
    labels = torch.tensor([test.get_data_info(i)['gt_label'] for i in range(len(test))])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    pre = cfg.data_preprocessor
    x = (x - pre.mean[0]) / pre.std[0]  # grey repeated over 3 channels: one mean and std
    with torch.no_grad():
        logits = model(x, mode='tensor')
    accuracy = 100 * (logits.argmax(1) == labels).float().mean().item()
    assert accuracy == pytest.approx(run_['value'], abs=1e-4)


def test_bad_arguments_are_refused(capsys):
    spec = importlib.util.spec_from_file_location('compare_digits',
                                                  f'{ROOT}/tools/analysis/compare_digits.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for argv, message in [(['--models', 'groupnet-k7'], "invalid choice: 'groupnet-k7'"),
                          (['--epochs', '0'], '--epochs must be >= 1'),
                          (['--subset', '0'], '--subset must be >= 1'),
                          (['--epochs', '1', '--iters', '3'], 'not allowed with argument')]:
        with pytest.raises(SystemExit) as exc:
            tool.EXPERIMENT.parse_args(argv)
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert tool.EXPERIMENT.parse_args([]).models == list(tool.EXPERIMENT.rows)
