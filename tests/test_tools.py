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
