"""The segmentation quick start end to end, as the README runs it: generate the shapes set,
train stage 1 (tanh, real weights) and stage 2 (the binary DeepLabV3, Group-Net + BPAC, from
stage 1's checkpoint) with tools/train.py, evaluate the checkpoint with tools/test.py, and check
that it beats the untrained segmentor (the same config, random weights) on the same images."""
import os.path as osp
import re

import pytest

from conftest import ROOT, python_tool, run
from tiny_toolbox_data import save_checkpoint

QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'deeplabv3_groupnet-r18_shapes.py')
STAGE1 = osp.join(ROOT, 'configs', 'quickstart', 'deeplabv3_groupnet-r18_stage1-tanh_shapes.py')
# One thread: several times faster than two on a CPU shared with other jobs.
ENV = dict(OMP_NUM_THREADS='1')
#: Training iterations of stage 1 and stage 2 (8 images, batch 4).
ITERS = (30, 30)
CLASSES = ('background', 'circle', 'square', 'triangle')


def data_options(root, iters):
    return ['--cfg-options'] + [f'{k}.dataset.data_root={root}' for k in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')] + [
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            'train_dataloader.batch_size=4', 'default_hooks.logger.interval=1']


def read_miou(log):
    """The mIoU (%) of the last ``Iter(test)`` line of ``log``."""
    miou = re.search(r'Iter\(test\) \[\d+/\d+\].*mIoU: ([\d.]+)', log)
    assert miou, log[-3000:]
    value = float(miou.group(1))
    assert 0 <= value <= 100
    return value


@pytest.mark.slow
def test_quickstart_trains_then_tests_with_miou(tmp_path):
    root, work = tmp_path / 'shapes_seg', tmp_path / 'work'
    proc = run(python_tool('dataset_converters/make_shapes_seg.py', '--out', root,
                           '--num-train', 8, '--num-val', 4, '--size', 96, '--seed', 0))
    assert 'val: 4 images of 96x96' in proc.stdout

    stage1 = tmp_path / 'stage1'
    first, second = ITERS
    run(python_tool('train.py', STAGE1, '--work-dir', stage1, *data_options(root, first)),
        env=ENV)
    assert (stage1 / f'iter_{first}.pth').exists()
    stage1_ckpt = stage1 / f'iter_{first}.pth'
    proc = run(python_tool('train.py', QUICKSTART, '--work-dir', work,
                           *data_options(root, second), f'load_from={stage1_ckpt}'), env=ENV)
    log = proc.stdout + proc.stderr
    assert f'Load checkpoint from {stage1_ckpt}' in log, log[-3000:]
    assert re.search(rf'Iter\(train\) \[{second}/{second}\].*decode\.loss_ce', log), log[-3000:]
    assert re.search(r'Iter\(val\) \[\d+/\d+\]|mIoU', log)  # validation at the last iteration
    ckpt = work / f'iter_{second}.pth'
    assert ckpt.exists()

    proc = run(python_tool('test.py', QUICKSTART, ckpt, '--work-dir', tmp_path / 'test',
                           *data_options(root, second)), env=ENV)
    log = proc.stdout + proc.stderr
    trained = read_miou(log)
    for name in CLASSES:  # the per-class IoU table
        assert re.search(rf'\|\s*{name}\s*\|', log), name

    # the same segmentor untrained (random weights, the config's own initialisation) on the
    # same images: training must have taught it something
    untrained = save_checkpoint(QUICKSTART, tmp_path / 'untrained.pth', CLASSES)
    proc = run(python_tool('test.py', QUICKSTART, untrained, '--work-dir',
                           tmp_path / 'test_untrained', *data_options(root, second)), env=ENV)
    before = read_miou(proc.stdout + proc.stderr)
    print(f'mIoU untrained {before}, trained {trained}')
    assert trained >= before + 10, (before, trained)
