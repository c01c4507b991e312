"""tools/analysis/plot_tradeoff.py and plot_logs.py: images written, values read right, bad files
refused with a message naming the file and what is wrong."""
import json
import re
import statistics

import numpy as np
import pytest
from PIL import Image

from tiny_toolbox_data import load_tool

# (name, bops, flops, size_kb, top-1 per seed)
MODELS = [('ResNet-18 (full precision)', 0, 2.19e6, 2740.1, [97.5, 97.2]),
          ('Bi-Real Net-18', 2.14e6, 0.05e6, 141.9, [95.0, 95.8]),
          ('Group-Net ResNet-18, K=5', 10.81e6, 0.03e6, 478.9, [96.9, 97.1])]


@pytest.fixture(scope='module')
def tradeoff():
    return load_tool('analysis', 'plot_tradeoff.py')


@pytest.fixture(scope='module')
def logs():
    return load_tool('analysis', 'plot_logs.py')


def harness_json(path, models=MODELS, metric='accuracy/top1', metric_name='top-1 (%)'):
    """A results file in the experiment harness's format (mmbnn.experiment/1)."""
    runs = []
    for key, (name, bops, flops, size, values) in enumerate(models):
        for seed, value in enumerate(values):
            runs.append(dict(key=f'm{key}', name=name, seed=seed, metric=metric,
                             metric_name=metric_name, value=value,
                             metrics={metric: value, 'accuracy/top5': 100.0 - seed},
                             bops=bops, flops=flops, ops=bops / 64 + flops, size_kb=size))
    path.write_text(json.dumps(dict(
        format='mmbnn.experiment/1', runs=runs,
        experiment=dict(title='digits', metric=metric, metric_name=metric_name))))
    return str(path)


def check_image(path, min_size):
    with Image.open(path) as img:
        img.load()
        assert img.width >= min_size[0] and img.height >= min_size[1]
        pixels = np.asarray(img.convert('L'))
    assert pixels.min() < 100 < pixels.max()  # something drawn on the white figure


def test_tradeoff_harness_format(tradeoff, tmp_path, capsys):
    out = tmp_path / 'tradeoff.png'
    points = tradeoff.main([harness_json(tmp_path / 'r.json'), '--out', str(out)])
    check_image(out, (1000, 400))
    assert [p['name'] for p in points] == [m[0] for m in MODELS]
    for p, (_, bops, flops, size, values) in zip(points, MODELS):
        assert p['mean'] == pytest.approx(statistics.mean(values))
        assert p['std'] == pytest.approx(statistics.stdev(values))
        assert p['ops'] == pytest.approx(bops / 64 + flops) and p['size_kb'] == size
        assert p['binary'] == (bops > 0)
    printed = capsys.readouterr().out
    assert re.search(r'\nGroup-Net ResNet-18, K=5 +97\.000 ± 0\.141 +0\.20 +478\.9 +2\n', printed)


def test_tradeoff_other_metric_svg_and_models(tradeoff, tmp_path):
    out = tmp_path / 't.svg'
    points = tradeoff.main([harness_json(tmp_path / 'r.json'), '--metric', 'accuracy/top5',
                            '--models', 'Bi-Real Net-18', '--out', str(out)])
    assert out.read_text().lstrip().startswith('<?xml') and '<svg' in out.read_text()
    assert [(p['name'], p['values']) for p in points] == [('Bi-Real Net-18', [100.0, 99.0])]


def test_tradeoff_compare_digits_format_merged_over_files(tradeoff, tmp_path):
    """compare_digits.py --json before the harness: rows of model, seed, top1, ops, size_kb;
    two files (one seed each) merge into one point per model."""
    for seed in (0, 1):
        rows = [dict(model=name, seed=seed, top1=values[seed], bops=bops, flops=flops,
                     ops=bops / 64 + flops, size_kb=size)
                for name, bops, flops, size, values in MODELS]
        (tmp_path / f's{seed}.json').write_text(json.dumps(dict(args={}, results=rows)))
    points = tradeoff.main([str(tmp_path / 's0.json'), str(tmp_path / 's1.json'),
                            '--out', str(tmp_path / 'd.png')])
    assert [p['values'] for p in points] == [m[4] for m in MODELS]
    check_image(tmp_path / 'd.png', (1000, 400))


@pytest.mark.parametrize('content, message', [
    ('', 'the file is empty'),
    ('{"runs": [', 'not JSON'),
    ('{"format": "mmbnn.experiment/1", "runs": []}', '"runs" is empty: no runs to plot'),
    ('{"fp": {"bbox_mAP": 0.4}, "groupnet": {"bbox_mAP": 0.15}}',
     "not a results file of the comparison benchmarks.*found 'fp', 'groupnet'"),
    ('{"format": "mmbnn.experiment/1", "runs": [{"name": "a", "value": 1.0, "ops": 5}]}',
     r"runs\[0\] \(a\) has no number 'size_kb' \(got None\)"),
    ('{"format": "mmbnn.experiment/1", "runs": [{"value": 1.0, "ops": 5, "size_kb": 1}]}',
     r"runs\[0\] has no model name 'name'"),
    ('{"results": [{"model": "a", "ops": 5, "size_kb": 1}]}',
     r'results\[0\] \(a\) has none of the metrics top1'),
    ('{"format": "mmbnn.experiment/2", "runs": [{}]}', "format 'mmbnn.experiment/2'"),
])
def test_tradeoff_refuses_bad_files(tradeoff, tmp_path, content, message):
    path = tmp_path / 'bad.json'
    path.write_text(content)
    with pytest.raises(SystemExit, match=f'plot_tradeoff: {path}: {message}'):
        tradeoff.main([str(path), '--out', str(tmp_path / 'x.png')])
    assert not (tmp_path / 'x.png').exists()


def test_tradeoff_refuses_mixed_metrics_and_bad_output(tradeoff, tmp_path, capsys):
    a = harness_json(tmp_path / 'a.json')
    b = harness_json(tmp_path / 'b.json', metric='coco/bbox_mAP', metric_name='bbox mAP')
    with pytest.raises(SystemExit, match='reports .bbox mAP. but the files before it report '
                       '.top-1 \\(%\\).: plot one metric at a time'):
        tradeoff.main([a, b, '--out', str(tmp_path / 'x.png')])
    with pytest.raises(SystemExit):
        tradeoff.main([a, '--out', str(tmp_path / 'x.jpg')])
    assert '--out must end with .png, .svg, .pdf' in capsys.readouterr().err


def write_scalars(path, lines):
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(line) + '\n' for line in lines))


def epoch_run(work_dir, losses, maps, iters_per_epoch=4, log_interval=3):
    """scalars.json as mmengine writes it for an epoch-based run: a training line every
    log_interval iterations and at each epoch's end, a validation line after each epoch
    (step = the epoch). Returns the iterations the validation lines belong to."""
    lines, val_iters, i = [], [], 0
    for epoch, m in enumerate(maps, 1):
        for inner in range(1, iters_per_epoch + 1):
            i += 1
            if inner % log_interval == 0 or inner == iters_per_epoch:
                lines.append(dict(lr=0.01, loss=losses[i - 1], epoch=epoch, iter=i, step=i))
        lines.append({'coco/bbox_mAP': m, 'coco/bbox_mAP_50': m + 0.2, 'step': epoch})
        val_iters.append(i)
    write_scalars(work_dir / '20240101_000000' / 'vis_data' / 'scalars.json', lines)
    return val_iters


def test_plot_logs_two_runs(logs, tmp_path):
    losses = list(np.linspace(2.0, 1.0, 8))
    val_iters = epoch_run(tmp_path / 'binary', losses, [0.1, 0.2])
    epoch_run(tmp_path / 'fp', [x / 2 for x in losses], [0.3, 0.4])
    out = tmp_path / 'curves.png'
    data = logs.main([str(tmp_path / 'binary'), str(tmp_path / 'fp' / '20240101_000000'),
                      '--keys', 'loss', 'bbox_mAP', '--out', str(out)])
    check_image(out, (800, 500))
    assert [name for name, *_ in data['loss']] == ['binary', 'fp']
    name, xs, ys, validation = data['loss'][0]
    assert xs == [3, 4, 7, 8] and ys == pytest.approx([losses[i - 1] for i in xs])
    assert not validation
    name, xs, ys, validation = data['bbox_mAP'][1]  # 'bbox_mAP' finds coco/bbox_mAP
    assert name == 'fp' and xs == val_iters == [4, 8] and ys == [0.3, 0.4] and validation


def test_plot_logs_refusals(logs, tmp_path):
    epoch_run(tmp_path / 'a', list(np.linspace(2.0, 1.0, 8)), [0.1, 0.2])
    with pytest.raises(SystemExit, match="no run has the key 'bbox_mAP_5'; the runs have: "
                       "coco/bbox_mAP, coco/bbox_mAP_50, loss, lr"):
        logs.main([str(tmp_path / 'a'), '--keys', 'bbox_mAP_5', '--out', str(tmp_path / 'x.png')])
    with pytest.raises(SystemExit, match="is ambiguous: coco/bbox_mAP, x/bbox_mAP"):
        write_scalars(tmp_path / 'b' / 'vis_data' / 'scalars.json',
                      [{'coco/bbox_mAP': 1, 'x/bbox_mAP': 2, 'step': 1}])
        logs.main([str(tmp_path / 'b'), '--keys', 'bbox_mAP'])
    empty = tmp_path / 'empty.json'
    empty.write_text('\n')
    with pytest.raises(SystemExit, match=f'plot_logs: {empty}: the file is empty'):
        logs.main([str(empty)])
    bad = tmp_path / 'bad.json'
    bad.write_text('{"loss": 1, "iter": 1, "step": 1}\n{"loss": 2, "iter"\n')
    with pytest.raises(SystemExit, match=f'plot_logs: {bad}, line 2: not JSON'):
        logs.main([str(bad)])
    (tmp_path / 'no_runs' / '20240101_000000').mkdir(parents=True)
    with pytest.raises(SystemExit, match='no_runs: no TIMESTAMP/vis_data/scalars.json in it'):
        logs.main([str(tmp_path / 'no_runs')])
    with pytest.raises(SystemExit, match='--legend gives 2 names for 1 runs'):
        logs.main([str(tmp_path / 'a'), '--legend', 'x', 'y'])
    assert not list(tmp_path.glob('*.png'))
