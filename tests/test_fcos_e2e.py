"""The binary detection quick start, end to end and as a user runs it: generate a tiny shapes set,
train the Group-Net FCOS of configs/quickstart/fcos_groupnet-r18_shapes.py in its two stages for a
few epochs, test the checkpoint, check the predictions, and check that the trained detector
beats the untrained one (the same config, random weights) on the same images."""
import os.path as osp
import pickle
import re

import pytest
import torch

from conftest import ROOT, python_tool, run
from tiny_toolbox_data import save_checkpoint

QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'fcos_groupnet-r18_shapes.py')
STAGE1 = osp.join(ROOT, 'configs', 'quickstart', 'fcos_groupnet-r18_stage1-tanh_shapes.py')
SIZE = 64


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes_coco')
    run(python_tool('dataset_converters/make_shapes_coco.py', '--out', root, '--num-train', 8,
                    '--num-val', 4, '--size', SIZE))
    return root


def options(root):
    root = f'{root}/'
    opts = [f'{k}.dataset.data_root={root}' for k in ('train_dataloader', 'val_dataloader',
                                                      'test_dataloader')]
    opts += [f'{k}.ann_file={root}annotations/instances_val.json'
             for k in ('val_evaluator', 'test_evaluator')]
    # score_thr=0: an untrained or briefly trained detector scores below the usual 0.05, and
    # CocoMetric computes nothing from no detections
    return opts + ['train_dataloader.batch_size=4', 'val_dataloader.batch_size=4',
                   'test_dataloader.batch_size=4', 'default_hooks.logger.interval=1',
                   'model.test_cfg.score_thr=0.0']


def coco_metrics(log):
    """The COCO bbox metrics of the last evaluation in ``log``; each must have been computed:
    CocoMetric prints -1 for a metric it could not compute (no detections or no ground truth
    to match), which would leave the end-to-end run untested."""
    found = re.findall(r'coco/(bbox_mAP(?:_50|_75|_s|_m|_l)?): (-?[\d.]+)', log)
    assert found, log[-3000:]
    metrics = dict(found)
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        assert 0 <= float(metrics[key]) <= 1, (key, metrics)  # -1: not computed
    return metrics


def test_converter_output_is_coco(shapes_root):
    import json
    with open(shapes_root / 'annotations' / 'instances_train.json') as f:
        coco = json.load(f)
    assert len(coco['images']) == 8 and coco['annotations']
    assert [c['name'] for c in coco['categories']] == ['circle', 'square', 'triangle']
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= SIZE and y + h <= SIZE and w > 0 and h > 0
        assert ann['iscrowd'] == 0 and ann['area'] > 0 and ann['category_id'] in (1, 2, 3)
    assert (shapes_root / 'train' / coco['images'][0]['file_name']).is_file()
    # deterministic: the same arguments write the same files
    again = shapes_root.parent / 'again'
    run(python_tool('dataset_converters/make_shapes_coco.py', '--out', again, '--num-train', 8,
                    '--num-val', 4, '--size', SIZE))
    for name in ('annotations/instances_train.json', 'annotations/instances_val.json',
                 'train/000000.png', 'val/000003.png'):
        assert (again / name).read_bytes() == (shapes_root / name).read_bytes(), name


#: Training epochs of each stage on the 8 images (2 iterations an epoch): enough for the binary
#: detector to beat the untrained one on its training images (measured here: bbox mAP 0.040,
#: mAP@0.5 0.212 after stage 2, 0.178 / 0.499 after stage 1, against 0 / 0 untrained).
EPOCHS = 40
# One thread: several times faster than two on a CPU shared with other jobs.
ENV = dict(OMP_NUM_THREADS='1')


def epochs(n=EPOCHS):
    return [f'train_cfg.max_epochs={n}', f'train_cfg.val_interval={n}',
            f'default_hooks.checkpoint.interval={n}']


@pytest.mark.slow
def test_train_then_test_quickstart(shapes_root, tmp_path):
    """The README's commands: stage 1 (tanh, real weights), stage 2 (binary) from stage 1's
    checkpoint, then tools/test.py on stage 2's; and tools/test.py on the untrained detector
    (random weights) on the same images, which the trained one must beat."""
    stage1 = tmp_path / 'stage1'
    last = f'epoch_{EPOCHS}.pth'
    proc = run(python_tool('train.py', STAGE1, '--work-dir', stage1, '--cfg-options',
                           *options(shapes_root), *epochs()), env=ENV)
    coco_metrics(proc.stdout + proc.stderr)
    assert (stage1 / last).is_file()

    work = tmp_path / 'work'
    proc = run(python_tool('train.py', QUICKSTART, '--work-dir', work, '--cfg-options',
                           *options(shapes_root), *epochs(), f'load_from={stage1 / last}'),
               env=ENV)
    log = proc.stdout + proc.stderr
    assert f'Load checkpoint from {stage1 / last}' in log, log[-3000:]
    assert re.search(rf'Epoch\(train\) \[{EPOCHS}\]\[\d/\d\].*loss_cls', log), log[-3000:]
    val = coco_metrics(log)
    ckpt = work / last
    assert ckpt.is_file()

    out = tmp_path / 'preds.pkl'
    proc = run(python_tool('test.py', QUICKSTART, ckpt, '--work-dir', tmp_path / 'test',
                           '--out', out, '--cfg-options', *options(shapes_root)), env=ENV)
    log = proc.stdout + proc.stderr
    # the checkpoint is the model validated at the end of training: same data, same metrics
    assert coco_metrics(log) == val
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4
    for p in preds:
        inst = p['pred_instances']
        bboxes, scores, labels = inst['bboxes'], inst['scores'], inst['labels']
        assert isinstance(bboxes, torch.Tensor) and bboxes.dim() == 2 and bboxes.shape[1] == 4
        assert len(bboxes) == len(scores) == len(labels) <= 100
        assert ((bboxes >= 0) & (bboxes <= SIZE)).all()
        assert (bboxes[:, 2:] >= bboxes[:, :2]).all()
        assert ((scores >= 0) & (scores <= 1)).all()
        assert ((labels >= 0) & (labels < 3)).all()
        assert p['ori_shape'] == (SIZE, SIZE)

    # the trained detector against the same detector untrained (random weights, the config's
    # own initialisation) on the same images, the 8 it trained on (4 val images are too few to
    # tell after 80 iterations): training must have taught it something
    untrained = save_checkpoint(QUICKSTART, tmp_path / 'untrained.pth',
                                ('circle', 'square', 'triangle'))
    on_train = ['test_dataloader.dataset.ann_file=annotations/instances_train.json',
                'test_dataloader.dataset.data_prefix.img=train/',
                f'test_evaluator.ann_file={shapes_root}/annotations/instances_train.json']
    metrics = {}
    for name, weights in (('untrained', untrained), ('trained', ckpt)):
        proc = run(python_tool('test.py', QUICKSTART, weights, '--work-dir',
                               tmp_path / f'test_{name}', '--cfg-options',
                               *options(shapes_root), *on_train), env=ENV)
        metrics[name] = coco_metrics(proc.stdout + proc.stderr)
    before, after = metrics['untrained'], metrics['trained']
    for key, margin in (('bbox_mAP', 0.01), ('bbox_mAP_50', 0.05)):
        assert float(after[key]) >= float(before[key]) + margin, (key, before, after)
