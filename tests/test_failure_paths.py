"""Failure paths that lose nothing (issue 23), each as a user meets it:

- rank 0 of a distributed run fails to fetch an ``mmbnn://`` checkpoint: every rank exits with the
  error, none waits forever (two independent gloo processes, nothing to kill the survivor);
- ``kill -9`` while a checkpoint is being written, then ``--resume``: training continues from the
  last complete checkpoint, the half-written file is never loaded;
- a checkpoint that does not fit the model (``tools/test.py``, ``load_from``, Group-Net's
  ``init_cfg`` Pretrained) is refused, saying how much matched; a partial fit (a new head) still
  loads; a zoo model is refused for a config of another architecture, naming its own config.

(A damaged file in the download cache: tests/test_zoo_download.py.)
"""
import hashlib
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

import mmbnn.utils.checkpoint as checkpoint_module
from conftest import CONFIGS, ROOT, data_root_options, python_tool
from mmbnn.models import GroupNetResNet
from mmbnn.utils import CheckpointMismatchError, check_checkpoint_fits, checkpoint_fit
from mmbnn.zoo import (MODEL_INDEX_ENV, SHA256_KEY, ZOO_URL_ENV, ArchitectureMismatchError,
                       check_zoo_architecture)
from test_tools import free_port
from tiny_toolbox_data import load_tool

TINY_CLS = osp.join(CONFIGS, 'tiny_cls.py')
KILLER = osp.join(ROOT, 'tests', 'data', 'kill_during_save.py')


# --------------------------------------------------------------------------- distributed
def write_zoo(root, name, config):
    """An index with one published model ``name`` of ``config`` whose file the (empty) release
    folder lacks; returns (index, release folder)."""
    sha = hashlib.sha256(b'a file that was never published').hexdigest()
    os.makedirs(root / 'release')
    entry = dict(Name=name, Config=config, Metadata={SHA256_KEY: sha},
                 Weights=f'{name}_20240101-{sha[:8]}.pth')
    (root / 'metafile.yml').write_text(yaml.safe_dump(dict(Models=[entry])))
    (root / 'model-index.yml').write_text(yaml.safe_dump(dict(Import=['metafile.yml'])))
    return str(root / 'model-index.yml'), str(root / 'release')


#: Rank 0 runs tools/train.py and, when it fails, keeps its process (and so its connections to
#: the other ranks) alive, as a rank does whose failure does not end it or whose death its peers
#: cannot see (NCCL): the other ranks must stop because they were told, not because it died.
RANK0 = """
import runpy, sys, time, traceback
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except BaseException:
    traceback.print_exc()
    print('RANK 0 FAILED, STILL ALIVE', flush=True)
    time.sleep(300)
    sys.exit(1)
"""


@pytest.mark.slow
def test_rank0_download_failure_stops_every_rank(tiny_cls_root, tmp_path):
    """Two gloo processes started one by one (as a cluster scheduler starts them; no torchrun
    agent kills the survivors). Rank 0 cannot fetch the mmbnn:// checkpoint; rank 1 must exit
    with that error while rank 0 is still alive (a barrier would keep it waiting for it)."""
    index, release = write_zoo(tmp_path, 'tiny-cls-unpublished', TINY_CLS)
    env = dict(os.environ, PYTHONPATH=ROOT, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()),
               WORLD_SIZE='2', TORCH_HOME=str(tmp_path / 'torch'),
               **{MODEL_INDEX_ENV: index, ZOO_URL_ENV: release})
    cmd = python_tool('train.py', TINY_CLS, '--launcher', 'pytorch', '--work-dir', tmp_path / 'w',
                      *data_root_options(tiny_cls_root), 'load_from=mmbnn://tiny-cls-unpublished')
    procs = [subprocess.Popen(([sys.executable, '-c', RANK0] + cmd[1:]) if r == 0 else cmd,
                              env=dict(env, RANK=str(r), LOCAL_RANK=str(r)), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in (0, 1)]
    try:
        log1 = procs[1].communicate(timeout=420)[0]
        rank0_alive = procs[0].poll() is None
    except subprocess.TimeoutExpired:
        pytest.fail('rank 1 did not exit within 420 s: it waits for rank 0, which failed')
    finally:
        for p in procs:
            p.kill()
    log0 = procs[0].communicate()[0]
    assert 'RANK 0 FAILED, STILL ALIVE' in log0, log0[-3000:]
    assert 'DownloadError' in log0 and 'no such file' in log0, log0[-3000:]
    assert procs[1].returncode != 0 and rank0_alive
    assert 'rank 1: rank 0 could not fetch mmbnn://tiny-cls-unpublished' in log1, log1[-3000:]
    assert 'no such file' in log1  # rank 0's reason, on rank 1 too
    assert not (tmp_path / 'w' / 'iter_1.pth').exists()


# --------------------------------------------------------------------------- kill -9 while saving
@pytest.fixture
def loaded_files(monkeypatch):
    """Paths of the local checkpoints torch.load is given (mmbnn's loader for local files)."""
    seen, real = [], checkpoint_module.safe_load

    def spy(filename, *args, **kwargs):
        seen.append(osp.abspath(filename))
        return real(filename, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, 'safe_load', spy)
    return seen


@pytest.mark.slow
def test_kill_during_checkpoint_save_then_resume(tiny_cls_root, tmp_path, loaded_files):
    """max_keep_ckpts=1 is mmengine's worst case: its hook removes iter_2.pth before writing
    iter_3.pth, so a kill there left nothing to resume from."""
    work = tmp_path / 'work'
    options = [*data_root_options(tiny_cls_root), 'train_cfg.max_iters=4',
               'train_cfg.val_interval=10', 'default_hooks.checkpoint.max_keep_ckpts=1']
    proc = subprocess.run([sys.executable, KILLER, osp.join(ROOT, 'tools', 'train.py'), TINY_CLS,
                           '--work-dir', str(work), *options], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT, MMBNN_TEST_KILL_ON='iter_3.pth'))
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-4000:]
    files = sorted(f for f in os.listdir(work) if f.startswith('iter_'))
    # the kill hit the half-written file under its temporary name; the last complete one stays
    assert files == ['iter_2.pth', 'iter_3.pth.partial'], files
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    partial = (work / 'iter_3.pth.partial').stat().st_size
    assert 0 < partial < (work / 'iter_2.pth').stat().st_size * 0.75  # really half-written

    runner = load_tool('train.py').main([TINY_CLS, '--work-dir', str(work), '--resume',
                                         *options])
    assert loaded_files == [str(work / 'iter_2.pth')]  # resumed from it, nothing else loaded
    assert runner.iter == 4
    assert sorted(f for f in os.listdir(work) if f.startswith('iter_')) == ['iter_4.pth']
    final = torch.load(work / 'iter_4.pth', weights_only=False)  # the test's own file
    assert final['meta']['iter'] == 4
    assert final['message_hub']['log_scalars']['train/loss']._log_history.size == 4
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_4.pth')


# --------------------------------------------------------------------------- fit
def test_check_checkpoint_fits_counts_tensors_and_values():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    sizes = {k: v.numel() for k, v in model.state_dict().items()
             if not k.endswith('num_batches_tracked')}
    total = sum(sizes.values())  # 32 + 8 + 4 * 8 (BN) + 24 + 3 = 99

    # a new head for 5 classes (fine-tuning): everything but the last layer fits; it loads
    head = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 5)).state_dict()
    fit = check_checkpoint_fits(model, {'state_dict': {f'module.{k}': v for k, v in head.items()}})
    assert (fit.matched, fit.total) == (len(sizes) - 2, len(sizes))
    assert fit.matched_values == total - 27
    assert [k for k, *_ in fit.mismatched] == ['2.weight', '2.bias'] and not fit.missing

    # twice the width: only the head's bias fits (3 of 99 values): refused
    other = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Linear(16, 3)).state_dict()
    other['extra.weight'] = torch.zeros(2)
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_fits(model, other, source='other.pth', hint='Use the right one.')
    matched = 3
    msg = str(info.value)
    assert f'other.pth does not fit Sequential: it matches 1 of {len(sizes)} tensors ' \
           f'({matched} of {total} values, {100 * matched / total:.1f}%)' in msg, msg
    assert '0.weight (checkpoint [16, 4], model [8, 4])' in msg and 'extra.weight' in msg
    assert msg.endswith('Use the right one.')
    assert checkpoint_fit(model, other).unexpected == ['extra.weight']
    assert check_checkpoint_fits(model, other, min_fraction=0.5 * matched / total)


def tiny_cls_checkpoint(path, **backbone):
    """A checkpoint of the tiny classifier with other backbone or head settings."""
    cfg = Config.fromfile(TINY_CLS)
    cfg.model.backbone.update(backbone)
    init_default_scope('mmpretrain')
    return_model = MODELS.build(cfg.model)
    torch.save(dict(meta=dict(), state_dict=return_model.state_dict()), path)
    return return_model.state_dict()


@pytest.mark.slow
def test_tools_refuse_a_checkpoint_of_another_model(tiny_cls_root, tmp_path):
    """Twice the width: only the stem fits. tools/test.py reported an accuracy of the random
    model before; now it, and training with load_from, stop with the counts."""
    path = str(tmp_path / 'wide.pth')
    theirs = tiny_cls_checkpoint(path, base_channels=16)
    init_default_scope('mmpretrain')
    ours = MODELS.build(Config.fromfile(TINY_CLS).model).state_dict()
    keys = [k for k in ours if not k.endswith('num_batches_tracked')]
    same = [k for k in keys if k in theirs and theirs[k].shape == ours[k].shape]
    expected = f'matches {len(same)} of {len(keys)} tensors'
    assert 0 < len(same) < len(keys) / 2

    with pytest.raises(CheckpointMismatchError, match=expected):
        load_tool('test.py').main([TINY_CLS, path, '--work-dir', str(tmp_path / 't'),
                                   *data_root_options(tiny_cls_root)])
    with pytest.raises(CheckpointMismatchError, match=expected):
        load_tool('train.py').main([TINY_CLS, '--work-dir', str(tmp_path / 'w'),
                                    *data_root_options(tiny_cls_root), f'load_from={path}'])
    assert not list((tmp_path / 'w').glob('iter_*.pth'))


@pytest.mark.slow
def test_partial_fit_still_loads(tiny_cls_root, tmp_path):
    """A classifier of another number of classes (fine-tuning): all but the head fit; it loads
    with mmengine's warning about the head and is evaluated."""
    path = str(tmp_path / 'three_classes.pth')
    cfg = Config.fromfile(TINY_CLS)
    cfg.model.head.num_classes = 3
    init_default_scope('mmpretrain')
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict()), path)
    metrics = load_tool('test.py').main([TINY_CLS, path, '--work-dir', str(tmp_path / 't'),
                                         *data_root_options(tiny_cls_root)])
    assert 0 <= metrics['accuracy/top1'] <= 100


def test_zoo_model_of_another_architecture_is_refused():
    """The issue's example: a digits classifier given to the shapes detector's config."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'quickstart', 'fcos_groupnet-r18_shapes.py'))
    with pytest.raises(ArchitectureMismatchError) as info:
        check_zoo_architecture(cfg, 'mmbnn://resnet18-w16_1xb64_digits')
    msg = str(info.value)
    assert 'was trained with configs/digits/resnet18-w16_1xb64_digits.py' in msg, msg
    assert 'python tools/test.py configs/digits/resnet18-w16_1xb64_digits.py ' \
           'mmbnn://resnet18-w16_1xb64_digits' in msg
    assert 'ImageClassifier' in msg and 'FCOS' in msg
    # its own config, and a config that changes only arguments, pass
    check_zoo_architecture(Config.fromfile(osp.join(ROOT, 'configs', 'digits',
                                                    'resnet18-w16_1xb64_digits.py')),
                           'mmbnn://resnet18-w16_1xb64_digits')
    check_zoo_architecture(cfg, 'mmbnn://fcos_groupnet-r18-3b_shapes')


def test_tools_test_refuses_zoo_model_of_another_architecture(tiny_cls_root, tmp_path):
    """Through tools/test.py: refused before anything is downloaded or loaded."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    try:
        with pytest.raises(ArchitectureMismatchError,
                           match='configs/quickstart/fcos_groupnet-r18_shapes.py'):
            load_tool('test.py').main([TINY_CLS, 'mmbnn://fcos_groupnet-r18_shapes',
                                       '--work-dir', str(tmp_path / 't'),
                                       *data_root_options(tiny_cls_root)])
    finally:
        torch.hub.set_dir(old)
    assert not (tmp_path / 'hub').exists()


def test_groupnet_pretrained_init_refuses_another_model(tmp_path):
    """init_cfg Pretrained of GroupNetResNet (ours: full-precision weights into every base)
    with a checkpoint whose keys are not a ResNet's."""
    path = tmp_path / 'vgg.pth'
    torch.save({'features.0.weight': torch.zeros(8, 3, 3, 3), 'classifier.weight':
                torch.zeros(10, 8)}, path)
    model = GroupNetResNet(stem_channels=8, base_channels=8, num_bases=2,
                           init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointMismatchError, match=r'init_cfg Pretrained .*vgg\.pth does not '
                       r'fit GroupNetResNet: it matches 0 of \d+ tensors'):
        model.init_weights()
