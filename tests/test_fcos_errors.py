"""Bad detection input fails with a message naming the problem (CheckedCocoDataset,
ClassNumCheckHook), in the dataset itself and through tools/train.py."""
import json
import os.path as osp
import subprocess

import pytest
from mmengine.registry import init_default_scope
from torch import nn

from conftest import ROOT, python_tool
from mmbnn.datasets.coco_checked import CheckedCocoDataset, check_coco_dict
from mmbnn.engine.class_num_check_hook import ClassNumCheckHook, check_num_classes
from mmbnn.registry import DATASETS, HOOKS

QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'fcos_groupnet-r18_shapes.py')
CLASSES = ('circle', 'square', 'triangle')


def valid_coco():
    return dict(
        images=[dict(id=1, file_name='000000.png', width=32, height=32)],
        annotations=[dict(id=1, image_id=1, category_id=2, bbox=[1, 2, 10, 12], area=100,
                          iscrowd=0)],
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)])


def make_root(tmp_path, ann='valid'):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'train').mkdir()
    ann_file = tmp_path / 'annotations' / 'instances_train.json'
    if isinstance(ann, str) and ann == 'valid':
        ann_file.write_text(json.dumps(valid_coco()))
    elif isinstance(ann, str):
        ann_file.write_text(ann)
    else:
        ann_file.write_text(json.dumps(ann))
    return str(tmp_path)


def build(root, **kwargs):
    cfg = dict(data_root=root, ann_file='annotations/instances_train.json',
               data_prefix=dict(img='train/'), metainfo=dict(classes=CLASSES), pipeline=[])
    cfg.update(kwargs)
    return CheckedCocoDataset(**cfg)


def test_valid_file_loads_like_coco_dataset(tmp_path):
    ds = build(make_root(tmp_path))
    assert len(ds) == 1
    inst = ds[0]['instances']
    assert inst[0]['bbox'] == [1, 2, 11, 14] and inst[0]['bbox_label'] == 1
    # registered in mmbnn's DATASETS (type='mmbnn.CheckedCocoDataset' in configs)
    assert DATASETS.get('CheckedCocoDataset') is CheckedCocoDataset
    assert HOOKS.get('ClassNumCheckHook') is ClassNumCheckHook


def test_missing_data_root_says_how_to_generate(tmp_path):
    root = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError,
                       match=r'data root .*nowhere does not exist: generate the synthetic '
                             r'shapes set with `python tools/dataset_converters/'
                             r'make_shapes_coco.py --out .*nowhere'):
        build(root)


def test_missing_annotation_file(tmp_path):
    root = make_root(tmp_path)
    with pytest.raises(FileNotFoundError,
                       match=r'annotation file .*instances_val.json does not exist'):
        build(root, ann_file='annotations/instances_val.json')


def test_missing_image_folder(tmp_path):
    root = make_root(tmp_path)
    with pytest.raises(FileNotFoundError, match=r'image folder .*val/ does not exist'):
        build(root, data_prefix=dict(img='val/'))


def test_not_json(tmp_path):
    with pytest.raises(ValueError, match=r'instances_train.json is not valid JSON'):
        build(make_root(tmp_path, ann='{"images": [1, 2'))


@pytest.mark.parametrize('key', ['images', 'annotations', 'categories'])
def test_missing_top_level_key(tmp_path, key):
    data = valid_coco()
    del data[key]
    with pytest.raises(ValueError, match=rf"is missing \['{key}'\]: a COCO detection file"):
        build(make_root(tmp_path, ann=data))


def test_top_level_not_an_object(tmp_path):
    with pytest.raises(ValueError, match='holds a JSON list'):
        build(make_root(tmp_path, ann=[1, 2]))


@pytest.mark.parametrize('bbox', [[1, 2, 3], [1, 2, 3, 4, 5], [1, 'a', 3, 4], 7, None,
                                  [1, 2, float('nan'), 4], [1, 2, True, 4]])
def test_bbox_not_four_numbers(tmp_path, bbox):
    data = valid_coco()
    data['annotations'][0]['bbox'] = bbox
    with pytest.raises(ValueError, match=r'annotations\[0\] \(id 1\): bbox must be 4 numbers'):
        check_coco_dict(data, 'x.json')


def test_bbox_in_corner_format_is_named(tmp_path):
    data = valid_coco()
    data['annotations'][0]['bbox'] = [10, 10, 5, -3]
    with pytest.raises(ValueError, match='negative width or height'):
        build(make_root(tmp_path, ann=data))


@pytest.mark.parametrize('edit, match', [
    (lambda d: d['annotations'][0].pop('bbox'), r"annotations\[0\] \(id 1\) has no \['bbox'\]"),
    (lambda d: d['images'][0].pop('width'), r"images\[0\] \(id 1\) has no \['width'\]"),
    (lambda d: d['annotations'][0].update(category_id=9), 'category_id 9 is not an id'),
    (lambda d: d['annotations'][0].update(image_id=5), 'image_id 5 is not an id in images'),
    (lambda d: d['annotations'].append(dict(d['annotations'][0])), 'id 1 is used twice'),
    (lambda d: d.update(images={}), "'images' must be a list"),
])
def test_malformed_entries(tmp_path, edit, match):
    data = valid_coco()
    edit(data)
    with pytest.raises(ValueError, match=match):
        build(make_root(tmp_path, ann=data))


def test_classes_not_in_categories(tmp_path):
    with pytest.raises(ValueError, match=r"classes \['hexagon'\] of the dataset metainfo are "
                                         r'not categories of .*instances_train.json'):
        build(make_root(tmp_path), metainfo=dict(classes=('circle', 'hexagon')))


# -- num_classes ------------------------------------------------------------------------------
class _Detector(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.bbox_head = nn.Module()
        self.bbox_head.num_classes = num_classes
        self.rpn_head = nn.Module()
        self.rpn_head.num_classes = 1  # never checked, as in mmdet


def test_num_classes_mismatch_is_named(tmp_path):
    ds = build(make_root(tmp_path))
    check_num_classes(_Detector(3), ds)
    with pytest.raises(ValueError, match=r'num_classes mismatch: model.bbox_head.num_classes=80 '
                                         r'.* but the train dataset \(CheckedCocoDataset\) has '
                                         r"3 classes \('circle', 'square', 'triangle'\)"):
        check_num_classes(_Detector(80), ds)


def test_classes_as_a_string_is_named(tmp_path):
    ds = build(make_root(tmp_path))
    ds._metainfo['classes'] = 'circle'
    with pytest.raises(ValueError, match='a string: write a tuple'):
        check_num_classes(_Detector(1), ds)


def _train_fails(tmp_path, *options):
    proc = subprocess.run(python_tool('train.py', QUICKSTART, '--work-dir', tmp_path / 'work',
                                      '--cfg-options', *options),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    return proc.stderr


def test_train_tool_missing_data_root(tmp_path):
    root = tmp_path / 'no_data'
    err = _train_fails(tmp_path, f'train_dataloader.dataset.data_root={root}')
    assert f'data root {root} does not exist' in err
    assert f'python tools/dataset_converters/make_shapes_coco.py --out {root}' in err


def test_train_tool_num_classes_mismatch(tmp_path):
    root = tmp_path / 'data'
    subprocess.run(python_tool('dataset_converters/make_shapes_coco.py', '--out', root,
                               '--num-train', 2, '--num-val', 2, '--size', 48),
                   cwd=ROOT, check=True, capture_output=True)
    options = [f'{k}.dataset.data_root={root}/' for k in ('train_dataloader', 'val_dataloader',
                                                         'test_dataloader')]
    options += [f'val_evaluator.ann_file={root}/annotations/instances_val.json',
                'model.bbox_head.num_classes=5', 'train_dataloader.batch_size=2']
    err = _train_fails(tmp_path, *options)
    assert ('num_classes mismatch: model.bbox_head.num_classes=5 (GroupNetFCOSHead) but the '
            "train dataset (CheckedCocoDataset) has 3 classes ('circle', 'square', 'triangle')"
            in err)
