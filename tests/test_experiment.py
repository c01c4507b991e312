"""mmbnn.analysis.experiment: schedule overrides, evaluation modes, metrics from the Runner,
kept checkpoints, the table's arithmetic, JSON merging and refusals."""
import json
import statistics

import pytest
import torch
from mmengine.config import Config

from conftest import CONFIGS, ROOT
from mmbnn.analysis.experiment import (FORMAT, Experiment, Row, format_table, load_results,
                                       merge_runs, set_train_length, summarize_runs)

DIGITS_FP = 'digits/resnet18-w16_1xb64_digits.py'


def epoch_cfg():
    return Config.fromfile(f'{ROOT}/configs/{DIGITS_FP}')


def iter_cfg():
    return Config(dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=1200, val_interval=1200),
        param_scheduler=[dict(type='LinearLR', by_epoch=False, begin=0, end=1200),
                         dict(type='PolyLR', by_epoch=False, begin=0, end=1200),
                         dict(type='CosineAnnealingLR', by_epoch=True, T_max=1200)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1200))))


def test_epochs_override_moves_the_schedule_with_it():
    cfg = epoch_cfg()
    assert cfg.train_cfg.max_epochs == 30 and cfg.param_scheduler[0].T_max == 30
    assert set_train_length(cfg, epochs=4) == (4, None)
    assert cfg.train_cfg.max_epochs == 4 and cfg.train_cfg.val_interval == 4
    assert cfg.param_scheduler[0].T_max == 4
    assert cfg.default_hooks.checkpoint.interval == 4
    assert set_train_length(epoch_cfg()) == (30, None)  # nothing asked: nothing changes


def test_iters_override_touches_only_iteration_schedulers():
    cfg = iter_cfg()
    assert set_train_length(cfg, iters=50) == (None, 50)
    assert cfg.train_cfg.max_iters == 50 and cfg.train_cfg.val_interval == 50
    assert [s.get('end', s.get('T_max')) for s in cfg.param_scheduler] == [50, 50, 1200]
    assert cfg.default_hooks.checkpoint.interval == 50


@pytest.mark.parametrize('make, kwargs, match', [
    (epoch_cfg, dict(iters=10), 'trains by epoch'),
    (iter_cfg, dict(epochs=2), 'trains by iteration'),
    (epoch_cfg, dict(epochs=0), 'int >= 1'),
    (epoch_cfg, dict(epochs=2, iters=3), 'not both'),
])
def test_bad_lengths_are_refused(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        set_train_length(make(), **kwargs)


def test_experiment_arguments_are_checked():
    with pytest.raises(ValueError, match='duplicate row keys'):
        Experiment('x', [Row('a', DIGITS_FP, 'A'), Row('a', DIGITS_FP, 'B')], 'accuracy/top1')
    with pytest.raises(ValueError, match='evaluate must be one of'):
        Experiment('x', [Row('a', DIGITS_FP, 'A')], 'accuracy/top1', evaluate='train')
    with pytest.raises(ValueError, match='at least one row'):
        Experiment('x', [], 'accuracy/top1')
    exp = Experiment('x', [Row('a', DIGITS_FP, 'A')], 'accuracy/top1')
    with pytest.raises(KeyError, match="unknown model keys \\['b'\\]"):
        exp.run(keys=['b'])


def test_make_config_sets_up_one_run(tmp_path):
    rows = [Row('fp', DIGITS_FP, 'FP', {'train_dataloader.batch_size': 7})]
    test_mode = Experiment('digits', rows, 'accuracy/top1').make_config(
        'fp', seed=3, work_dir=str(tmp_path), epochs=2, subset=10,
        cfg_options={'optim_wrapper.optimizer.lr': 0.5})
    assert test_mode.randomness.seed == 3 and test_mode.work_dir == str(tmp_path)
    assert test_mode.train_dataloader.batch_size == 7  # the row's override
    assert test_mode.optim_wrapper.optimizer.lr == 0.5  # the caller's
    assert test_mode.train_dataloader.dataset.indices == 10
    assert test_mode.val_dataloader is None and 'val_interval' not in test_mode.train_cfg
    assert test_mode.default_hooks.checkpoint.interval == -1
    val_mode = Experiment('digits', rows, 'accuracy/top1', evaluate='val').make_config(
        'fp', seed=0, work_dir=str(tmp_path), epochs=2)
    assert val_mode.train_cfg.val_interval == 2 and val_mode.val_dataloader is not None


def fake_run(key, seed, value, **extra):
    return dict(key=key, name=key.upper(), config=f'{key}.py', seed=seed, metric='m',
                metric_name='M (%)', value=value, metrics=dict(m=value, **extra),
                bops=2e6, flops=5e4, ops=2e6 / 64 + 5e4, size_kb=141.9, params=10,
                train_cpu_s=10.0 + seed, checkpoint=None)


def test_table_is_the_mean_and_sample_std_of_the_seeds():
    runs = [fake_run('b', 1, 90.0, aux=1.0), fake_run('a', 0, 50.0),
            fake_run('b', 0, 94.0, aux=3.0), fake_run('b', 2, 95.5, aux=2.0)]
    lines = format_table(runs, digits=2, extra_metrics=('aux', )).splitlines()
    assert lines[0] == ('| model | M (%) | per seed | aux | BOPs (M) | FLOPs (M) | OPs (M) '
                        '| size (kB) | train CPU s |')
    assert lines[1] == '|' + '---|' * 9
    values = [94.0, 90.0, 95.5]  # seeds 0, 1, 2
    assert lines[2] == (f'| B | {statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} '
                        f'| 94.00 / 90.00 / 95.50 | 2.00 | 2.00 | 0.05 | 0.08 | 141.9 | 11 |')
    assert lines[3] == '| A | 50.00 | 50.00 | - | 2.00 | 0.05 | 0.08 | 141.9 | 10 |'
    b = summarize_runs(runs)[0]
    assert b['seeds'] == [0, 1, 2] and b['values'] == values
    assert b['std'] == pytest.approx(statistics.stdev(values))
    with pytest.raises(ValueError, match='no runs'):
        format_table([])


def test_merge_and_load(tmp_path):
    first = [fake_run('a', 0, 1.0), fake_run('b', 0, 2.0)]
    second = [fake_run('a', 0, 5.0), fake_run('a', 1, 3.0)]
    merged = merge_runs(first, second)
    assert [(r['key'], r['seed'], r['value']) for r in merged] == [
        ('a', 0, 5.0), ('b', 0, 2.0), ('a', 1, 3.0)]
    exp = Experiment('t', [Row('a', DIGITS_FP, 'A'), Row('b', DIGITS_FP, 'B')], 'm')
    paths = []
    for i, runs in enumerate((first, second)):
        paths.append(tmp_path / f'{i}.json')
        paths[-1].write_text(json.dumps(exp.results(runs)))
    doc = load_results(paths)
    assert doc['format'] == FORMAT and doc['runs'] == merged
    assert {m['key']: m['values'] for m in doc['models']} == {'a': [5.0, 3.0], 'b': [2.0]}
    (tmp_path / 'bad.json').write_text(json.dumps(dict(results=[])))
    with pytest.raises(ValueError, match='is not an experiment result'):
        load_results([tmp_path / 'bad.json'])
    other = Experiment('t', [Row('a', DIGITS_FP, 'A')], 'other/metric').results(first)
    (tmp_path / 'other.json').write_text(json.dumps(other))
    with pytest.raises(ValueError, match='different metrics'):
        load_results([paths[0], tmp_path / 'other.json'])


@pytest.fixture
def tiny_experiment():
    return Experiment('tiny', [Row('tiny', f'{CONFIGS}/tiny_cls.py', 'Tiny binary ResNet')],
                      metric='accuracy/top1', evaluate='val', input_shape=(3, 32, 32))


def test_val_mode_reads_the_metrics_the_runner_returned(tiny_experiment, tiny_cls_root,
                                                        tmp_path):
    """An iteration-based config, validated once at the end: the metric is what the
    validation loop computed, and the final checkpoint is kept (weights and meta only)."""
    options = {f'{k}.dataset.data_root': tiny_cls_root
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    runs = tiny_experiment.run(seeds=[0], work_dir=str(tmp_path), iters=3, cfg_options=options,
                               threads=None, log=lambda *a: None)
    r, = runs
    assert r['iters'] == 3 and r['epochs'] is None and r['eval_split'] == 'val'
    assert r['train_samples'] == r['eval_samples'] == 16
    assert r['checkpoint'] == str(tmp_path / 'tiny' / 'seed0' / 'final.pth')
    ckpt = torch.load(r['checkpoint'], map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 3
    assert 'optimizer' not in ckpt  # weights and meta only
    # 16 images: the accuracy is a multiple of 100 / 16
    assert (r['value'] * 16 / 100) == pytest.approx(round(r['value'] * 16 / 100), abs=1e-4)
    assert r['bops'] > 0 and r['input_shape'] == [3, 32, 32]
    assert r['threads'] == torch.get_num_threads()


def test_missing_metric_names_what_there_is(tiny_cls_root, tmp_path):
    exp = Experiment('tiny', [Row('tiny', f'{CONFIGS}/tiny_cls.py', 'T')], metric='mIoU',
                     evaluate='test', input_shape=(3, 32, 32))
    options = {f'{k}.dataset.data_root': tiny_cls_root
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    with pytest.raises(KeyError, match=r"no 'mIoU'.*accuracy/top1"):
        exp.run(seeds=[0], iters=1, cfg_options=options, threads=None, log=lambda *a: None)
