"""Tiny data, configs and checkpoints for a detector, a segmentor and a classifier, for the tests of
``tools/test.py --show-dir`` and of the demo (tests/test_visualization.py, tests/test_demo.py).

The data come from the project's own converters (the synthetic shapes), the models from
tests/data/configs/tiny_{det,seg,cls}.py; the configs written here add what a test run needs
(dataset, evaluator, the toolbox's runtime with its visualizer and visualization hook).
"""
import importlib.util
import os
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import DefaultScope

from conftest import CONFIGS, ROOT

SHAPES = ('circle', 'square', 'triangle')
TINY = {scope: osp.join(CONFIGS, f'tiny_{name}.py')
        for scope, name in (('mmdet', 'det'), ('mmseg', 'seg'), ('mmpretrain', 'cls'))}


def load_tool(*path):
    """A script under tools/ as a module (to call its ``main(argv)`` in this process)."""
    file = osp.join(ROOT, 'tools', *path)
    spec = importlib.util.spec_from_file_location('tool_' + '_'.join(path)[:-3], file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_det_data(root, num_val=3):
    load_tool('dataset_converters', 'make_shapes_coco.py').main(
        ['--out', str(root), '--num-train', '1', '--num-val', str(num_val), '--size', '64'])
    return str(root)


def make_seg_data(root, num_val=3):
    load_tool('dataset_converters', 'make_shapes_seg.py').main(
        ['--out', str(root), '--num-train', '1', '--num-val', str(num_val), '--size', '64'])
    return str(root)


def make_cls_data(root, per_class=4):
    """An ImageNet-style folder of 2 classes (vertical / horizontal lines) whose files have
    unique names (mmpretrain's hook names its pictures by the file name alone)."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in range(2):
        os.makedirs(osp.join(root, f'class{c}'))
        for i in range(per_class):
            img = (rng.random((32, 32, 3)) * 60).astype(np.uint8)
            if c == 0:
                img[:, ::4] = 255
            else:
                img[::4] = 255
            Image.fromarray(img).save(osp.join(root, f'class{c}', f'c{c}_{i}.png'))
    return str(root)


def det_config(path, data_root, visualizer=True):
    """The tiny FCOS on the shapes' val split, every box kept (score_thr 0), with mmdet's
    visualization hook and visualizer (as mmdet's default_runtime.py)."""
    ann = osp.join(data_root, 'annotations', 'instances_val.json')
    vis = "visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(" \
        "type='LocalVisBackend')], name='visualizer')" if visualizer else ''
    text = f"""
_base_ = {TINY['mmdet']!r}
default_hooks = dict(visualization=dict(type='DetVisualizationHook'))
{vis}
model = dict(bbox_head=dict(num_classes=3), test_cfg=dict(score_thr=0.0))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
test_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CocoDataset', data_root={data_root!r}, ann_file={ann!r},
                 data_prefix=dict(img='val/'), metainfo=dict(classes={SHAPES!r}),
                 pipeline=test_pipeline, test_mode=True))
test_evaluator = dict(type='CocoMetric', ann_file={ann!r}, metric='bbox')
test_cfg = dict(type='TestLoop')
"""
    return _write(path, text)


def seg_config(path, data_root, hook=True):
    """The tiny FCN on the shapes' val split (4 classes with the background), with mmseg's
    visualizer and (``hook``) its visualization hook."""
    hooks = "default_hooks = dict(visualization=dict(type='SegVisualizationHook'))" \
        if hook else ''
    text = f"""
_base_ = {TINY['mmseg']!r}
visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
model = dict(decode_head=dict(num_classes=4))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 48), keep_ratio=False),
    dict(type='LoadAnnotations'),  # after Resize: the metric compares at the original size
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='BaseSegDataset', data_root={data_root!r}, img_suffix='.png',
                 seg_map_suffix='.png', reduce_zero_label=False,
                 metainfo=dict(classes=('background', ) + {SHAPES!r},
                               palette=[[0, 0, 0], [220, 20, 60], [0, 170, 80], [30, 90, 230]]),
                 data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
                 pipeline=test_pipeline))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_cfg = dict(type='TestLoop')
{hooks}
"""
    return _write(path, text)


def cls_config(path, data_root, visualizer=True):
    """The tiny binary ResNet classifier, with mmpretrain's visualizer and hook."""
    vis = "visualizer = dict(type='UniversalVisualizer', vis_backends=[dict(" \
        "type='LocalVisBackend')])" if visualizer else ''
    text = f"""
_base_ = [{TINY['mmpretrain']!r}]
test_dataloader = dict(dataset=dict(data_root={data_root!r}),
                       sampler=dict(type='DefaultSampler', shuffle=False))
default_hooks = dict(visualization=dict(type='VisualizationHook', enable=False))
{vis}
"""
    return _write(path, text)


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def save_checkpoint(config, path, classes, seed=0):
    """Random weights of the config's model, saved as the Runner saves them: with the dataset
    meta, and a message hub holding a HistoryBuffer (which torch's default weights-only loader
    refuses, so loading the file at all needs mmbnn's safe loader)."""
    cfg = Config.fromfile(config)
    scope = cfg.default_scope
    registry = importlib.import_module(f'{scope}.registry')
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.MODELS.build(cfg.model)
    model.init_weights()
    buffer = HistoryBuffer()
    buffer.update(1.0)
    torch.save(dict(meta=dict(dataset_meta=dict(classes=list(classes)), seed=np.int64(seed)),
                    state_dict=model.state_dict(),
                    message_hub=dict(log_scalars={'train/loss': buffer})), path)
    found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in found
    return str(path)
