"""tools/analysis/compare_distill.py: the rows and their chain, the gain table, and the pairing
it claims (a student and its -kd twin start from the same weights and see the same batches)."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import CheckpointLoader

from conftest import ROOT
from mmbnn.registry import ROOT_MODELS
from mmbnn.utils import config_path


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'compare_distill', osp.join(ROOT, 'tools', 'analysis', 'compare_distill.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cd = load_tool()


def test_every_row_config_exists_and_kd_rows_wrap_their_student():
    for name, spec in cd.DATASETS.items():
        rows = spec['experiment'].rows
        for row in rows.values():
            assert osp.isfile(config_path(row.config)), row.config
        for base, kd in spec['pairs']:
            student = Config.fromfile(config_path(rows[base].config)).model
            wrapped = Config.fromfile(config_path(rows[kd].config)).model
            assert wrapped.type == 'mmbnn.SingleTeacherDistiller'
            assert wrapped.student == student, (name, kd)  # the same model, wrapped
            teacher = wrapped.teacher.config
            assert teacher == rows['fp'].config, (kd, teacher)
        for key, deps in spec['needs'].items():
            assert key in rows and all(d in rows for d in deps.values())


def test_order_puts_dependencies_first_and_skips_reused_rows():
    needs = cd.DATASETS['shapes']['needs']
    assert cd.order(['gn5-kd'], needs) == ['gn5-s1', 'fp', 'gn5-kd']
    assert cd.order(['gn5', 'gn5-kd'], needs, skip=['fp', 'gn5-s1']) == ['gn5', 'gn5-kd']
    with pytest.raises(ValueError, match='circular'):
        cd.order(['a'], {'a': {'x': 'b'}, 'b': {'y': 'a'}})


def test_cfg_options_of_a_kd_row_go_to_its_student():
    got = cd.for_student({'model.test_cfg.score_thr': 0.0, 'model.teacher.checkpoint': 'x',
                          'model.with_student_loss': False, 'train_cfg.max_epochs': 1})
    assert got == {'model.student.test_cfg.score_thr': 0.0, 'model.teacher.checkpoint': 'x',
                   'model.with_student_loss': False, 'train_cfg.max_epochs': 1}


def test_reuse_is_parsed_and_checked():
    assert cd.parse_reuse(['fp=a/{seed}.pth'], ['fp', 'x']) == {'fp': 'a/{seed}.pth'}
    with pytest.raises(SystemExit, match='unknown row'):
        cd.parse_reuse(['teacher=a.pth'], ['fp'])
    with pytest.raises(SystemExit, match='KEY=CHECKPOINT'):
        cd.parse_reuse(['fp'], ['fp'])


def test_gain_table_pairs_seeds():
    runs = [dict(key='b', name='B', seed=s, value=v) for s, v in ((0, 90.0), (1, 92.0))]
    runs += [dict(key='b-kd', name='B + teacher', seed=s, value=v)
             for s, v in ((0, 91.0), (1, 95.0), (2, 99.0))]
    table = cd.gain_table(runs, [('b', 'b-kd'), ('c', 'c-kd')])
    # seed 2 has no partner: left out of both means
    assert '| B + teacher | 91.00 | 93.00 | +2.00 ± 1.41 | +1.00 / +3.00 |' in table
    assert 'c-kd' not in table


def test_shapes_arguments_are_checked():
    with pytest.raises(SystemExit):
        cd.parse_args(['--dataset', 'shapes', '--epochs', '2'])
    with pytest.raises(SystemExit):
        cd.parse_args(['--dataset', 'digits', '--stage-epochs', '1', '1'])
    args, spec = cd.parse_args(['--dataset', 'shapes'])
    assert args.models == ['fp', 'gn5-s1', 'gn5', 'gn5-kd']
    assert args.work_dir == osp.join('work_dirs', 'distill', 'shapes')
    assert args.json == osp.join(args.work_dir, 'results.json')


@pytest.mark.slow
def test_a_student_and_its_twin_without_distillation_weight_train_identically(tmp_path):
    """With the distillation loss weighted 0, the wrapped student trains exactly as the plain
    one: same initial weights, same batches, the teacher's build leaving the random stream alone
    (what makes the gain table's per-seed pairs meaningful)."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config_path('digits/resnet18-w16_1xb64_digits.py'))
    teacher = ROOT_MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    exp = cd.DATASETS['digits']['experiment']
    args = exp.parse_args(['--epochs', '1', '--subset', '128', '--work-dir', str(tmp_path)])
    plain, = exp.run_args(args, keys=['bireal'], seeds=[3], log=lambda *a: None)
    kd, = exp.run_args(args, keys=['bireal-kd'], seeds=[3], log=lambda *a: None,
                       cfg_options={cd.TEACHER_KEY: ckpt,
                                    'model.distill_losses.loss_kd.loss_weight': 0.0})
    assert plain['value'] == kd['value']
    a = CheckpointLoader.load_checkpoint(plain['checkpoint'])['state_dict']
    b = CheckpointLoader.load_checkpoint(kd['checkpoint'])['state_dict']
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (kd['bops'], kd['size_kb'], kd['params']) == \
        (plain['bops'], plain['size_kb'], plain['params'])
