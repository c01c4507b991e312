"""The segmentation quick start end to end, as the README runs it: generate the shapes set,
train stage 1 (tanh, real weights) and stage 2 (the binary DeepLabV3, Group-Net + BPAC, from
stage 1's checkpoint) with tools/train.py, evaluate the checkpoint with tools/test.py, and find
mIoU in the log."""
import os.path as osp
import re

import pytest

from conftest import ROOT, python_tool, run

QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'deeplabv3_groupnet-r18_shapes.py')
STAGE1 = osp.join(ROOT, 'configs', 'quickstart', 'deeplabv3_groupnet-r18_stage1-tanh_shapes.py')
# One thread: several times faster than two on a CPU shared with other jobs.
ENV = dict(OMP_NUM_THREADS='1')


def data_options(root, iters):
    return ['--cfg-options'] + [f'{k}.dataset.data_root={root}' for k in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')] + [
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            'train_dataloader.batch_size=4', 'default_hooks.logger.interval=1']


@pytest.mark.slow
def test_quickstart_trains_then_tests_with_miou(tmp_path):
    root, work = tmp_path / 'shapes_seg', tmp_path / 'work'
    proc = run(python_tool('dataset_converters/make_shapes_seg.py', '--out', root,
                           '--num-train', 8, '--num-val', 4, '--size', 96, '--seed', 0))
    assert 'val: 4 images of 96x96' in proc.stdout

    stage1 = tmp_path / 'stage1'
    run(python_tool('train.py', STAGE1, '--work-dir', stage1, *data_options(root, 2)), env=ENV)
    assert (stage1 / 'iter_2.pth').exists()
    proc = run(python_tool('train.py', QUICKSTART, '--work-dir', work, *data_options(root, 3),
                           f'load_from={stage1 / "iter_2.pth"}'), env=ENV)
    log = proc.stdout + proc.stderr
    assert f'Load checkpoint from {stage1 / "iter_2.pth"}' in log, log[-3000:]
    assert re.search(r'Iter\(train\) \[3/3\].*decode\.loss_ce', log), log[-3000:]
    assert re.search(r'Iter\(val\) \[4/4\]|mIoU', log)  # validation at the last iteration
    ckpt = work / 'iter_3.pth'
    assert ckpt.exists()

    proc = run(python_tool('test.py', QUICKSTART, ckpt, '--work-dir', tmp_path / 'test',
                           *data_options(root, 3)), env=ENV)
    log = proc.stdout + proc.stderr
    miou = re.search(r'Iter\(test\) \[\d+/\d+\].*mIoU: ([\d.]+)', log)
    assert miou, log[-3000:]
    assert 0 <= float(miou.group(1)) <= 100
    for name in ('background', 'circle', 'square', 'triangle'):  # the per-class IoU table
        assert re.search(rf'\|\s*{name}\s*\|', log), name
