"""tools/train.py, tools/test.py and the distributed launchers, run as a user runs them."""
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys

import pytest
import torch

from conftest import CONFIGS, ROOT, data_root_options, python_tool, run

TINY_CLS = osp.join(CONFIGS, 'tiny_cls.py')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_cls_root):
    """Train the tiny binary classifier for 2 iterations (a checkpoint after each)."""
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    work_dir = tmp_path_factory.mktemp('work')
    run(python_tool('train.py', TINY_CLS, '--work-dir', work_dir,
                    *data_root_options(tiny_cls_root)))
    return work_dir


def test_train_writes_runner_checkpoints(trained):
    assert sorted(p.name for p in trained.glob('iter_*.pth')) == ['iter_1.pth', 'iter_2.pth']
    # What the Runner writes needs more than torch's default allow-list (the reason for
    # mmbnn.utils.checkpoint): check that this is still true, so the tests below mean something.
    found = torch.serialization.get_unsafe_globals_in_checkpoint(str(trained / 'iter_2.pth'))
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in found


def test_resume_then_test_from_checkpoint(trained, tiny_cls_root, tmp_path):
    proc = run(python_tool('train.py', TINY_CLS, '--work-dir', trained, '--resume',
                           *data_root_options(tiny_cls_root), 'train_cfg.max_iters=3'))
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    ckpt = torch.load(trained / 'iter_3.pth', weights_only=False)  # the test's own file
    assert ckpt['meta']['iter'] == 3
    assert ckpt['optimizer']['state'], 'optimizer state (momentum) was not resumed and saved'
    before = torch.load(trained / 'iter_2.pth', weights_only=False)
    assert ckpt['message_hub']['log_scalars']['train/loss']._log_history.size == 3
    assert not all(torch.equal(before['state_dict'][k], v)
                   for k, v in ckpt['state_dict'].items() if v.is_floating_point())

    out = tmp_path / 'preds.pkl'
    proc = run(python_tool('test.py', TINY_CLS, trained / 'iter_3.pth', '--work-dir', tmp_path,
                           '--out', out, *data_root_options(tiny_cls_root)))
    assert 'accuracy/top1' in proc.stdout + proc.stderr
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 16
    assert all(p['pred_score'].shape == (2, ) for p in preds)


def test_resume_from_named_checkpoint(trained, tiny_cls_root, tmp_path):
    proc = run(python_tool('train.py', TINY_CLS, '--work-dir', tmp_path, '--resume',
                           trained / 'iter_1.pth', *data_root_options(tiny_cls_root)))
    assert 'resumed epoch: 0, iter: 1' in proc.stdout + proc.stderr
    assert (tmp_path / 'iter_2.pth').exists() and not (tmp_path / 'iter_1.pth').exists()


def test_amp_on_cpu_is_refused_clearly(tiny_cls_root, tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU: --amp applies there')
    proc = subprocess.run(python_tool('train.py', TINY_CLS, '--work-dir', tmp_path, '--amp'),
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert '--amp needs an accelerator' in proc.stderr


def test_bad_config_key_is_named(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text(f"_base_ = {TINY_CLS!r}\n"
                   "model = dict(backbone=dict(conv_cfg=dict(type='mmbnn.BinaryConvv2d')))\n")
    proc = subprocess.run(python_tool('train.py', bad, '--work-dir', tmp_path), cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "'BinaryConvv2d' is not registered in the mmbnn::model registry" in proc.stderr
    assert 'did you mean BinaryConv2d' in proc.stderr


def test_two_process_gloo_train_and_test(tiny_cls_root, tmp_path):
    env = dict(PYTHON=sys.executable, PORT=str(free_port()))
    proc = run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), TINY_CLS, '2',
                '--work-dir', tmp_path, *data_root_options(tiny_cls_root)], env=env)
    log = proc.stdout + proc.stderr
    assert "'backend': 'gloo'" in log and 'Distributed training: True' in log
    # 16 images, batch 4, 2 processes: each rank sees 2 batches per epoch, not 4.
    assert 'Epoch(val) [0][2/2]' in log
    assert (tmp_path / 'iter_2.pth').exists()

    env['PORT'] = str(free_port())
    proc = run(['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), TINY_CLS,
                tmp_path / 'iter_2.pth', '2', '--work-dir', tmp_path,
                *data_root_options(tiny_cls_root)], env=env)
    log = proc.stdout + proc.stderr
    assert 'Epoch(test) [2/2]' in log and 'accuracy/top1' in log


def load_train_tool():
    from tiny_toolbox_data import load_tool
    return load_tool('train.py')


def test_auto_scale_lr(tiny_cls_root, tmp_path):
    """--auto-scale-lr, as mmdet's: the config's lr x (1 process x batch 4) / base_batch_size."""
    from mmengine.config import Config
    cfg = Config.fromfile(TINY_CLS)
    expected = cfg.optim_wrapper.optimizer.lr * cfg.train_dataloader.batch_size / 16
    runner = load_train_tool().main([
        TINY_CLS, '--work-dir', str(tmp_path), '--auto-scale-lr',
        *data_root_options(tiny_cls_root), 'train_cfg.max_iters=1', 'train_cfg.val_interval=10',
        'auto_scale_lr.base_batch_size=16'])
    # the schedulers record the lr they started from
    assert runner.optim_wrapper.optimizer.param_groups[0]['initial_lr'] == pytest.approx(expected)
    assert expected == pytest.approx(0.0025)


def test_auto_scale_lr_needs_the_config_entry(tmp_path):
    train = load_train_tool()
    with pytest.raises(RuntimeError, match=r'Can not find "auto_scale_lr" or '
                       r'"auto_scale_lr.enable" or "auto_scale_lr.base_batch_size" in your '
                       r'configuration file'):
        train.main([TINY_CLS, '--work-dir', str(tmp_path), '--auto-scale-lr'])
    assert not os.listdir(tmp_path)


def test_train_unknown_flag_as_argparse(capsys):
    with pytest.raises(SystemExit) as e:
        load_train_tool().main([TINY_CLS, '--scale-lr'])
    assert e.value.code == 2
    assert 'unrecognized arguments: --scale-lr' in capsys.readouterr().err


def test_plot_logs_reads_the_runners_scalars(trained, tmp_path):
    """tools/analysis/plot_logs.py on the scalars.json the Runner wrote while training the tiny
    classifier: loss after iterations 1 and 2, accuracy after the validation at iteration 2."""
    from tiny_toolbox_data import load_tool
    plot_logs = load_tool('analysis', 'plot_logs.py')
    first = sorted(d for d in trained.iterdir() if (d / 'vis_data' / 'scalars.json').is_file())[0]
    out = tmp_path / 'curves.png'
    data = plot_logs.main([str(first), '--keys', 'loss', 'top1', '--legend', 'tiny',
                           '--out', str(out)])
    assert out.stat().st_size > 10000
    (_, xs, ys, val), = data['loss']
    assert xs == [1, 2] and all(0 < y < 5 for y in ys) and not val
    (_, xs, ys, val), = data['top1']  # accuracy/top1
    assert xs == [2] and val and 0 <= ys[0] <= 100
