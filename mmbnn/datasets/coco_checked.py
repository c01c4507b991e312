"""mmdet's CocoDataset that checks its data root and annotation file and says what is wrong."""
import json
import math
import os.path as osp
from numbers import Real
from typing import Dict, List, Optional

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO

from mmbnn.registry import DATASETS

__all__ = ['CheckedCocoDataset', 'CheckedCOCO', 'check_coco_dict', 'load_coco_json']

SHAPES_HINT = ('generate the synthetic shapes set with `python '
               'tools/dataset_converters/make_shapes_coco.py --out {root}`, or point data_root '
               'at a COCO-format dataset')

REQUIRED_KEYS = {
    'images': ('id', 'file_name', 'width', 'height'),
    'annotations': ('id', 'image_id', 'category_id', 'bbox', 'area'),
    'categories': ('id', 'name'),
}


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


def load_coco_json(path: str) -> dict:
    """Read a COCO annotation file and check it with :func:`check_coco_dict`."""
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'annotation file {path} is not valid JSON ({e}); a COCO '
                             "annotation file is a JSON object with 'images', 'annotations' "
                             "and 'categories'") from None
    return check_coco_dict(data, path)


def check_coco_dict(data, path: str = '<dict>') -> dict:
    """Check that ``data`` is a COCO detection dict that mmdet's CocoDataset can read.

    Checks: a JSON object with the lists ``images``, ``annotations`` and ``categories``; the
    keys mmdet reads in each entry (:data:`REQUIRED_KEYS`); unique image, annotation and
    category ids; every annotation's ``image_id`` and ``category_id`` exist; ``bbox`` is 4
    finite numbers ``[x, y, w, h]`` with ``w, h >= 0``; ``area`` is a number.

    Raises:
        ValueError: naming the file, the entry (index and id) and the problem.
    """
    if not isinstance(data, dict):
        raise ValueError(f'annotation file {path} holds a JSON {type(data).__name__}, not an '
                         "object with 'images', 'annotations' and 'categories'")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f'annotation file {path} is missing {missing}: a COCO detection file '
                         f'needs {list(REQUIRED_KEYS)} (found keys: {sorted(data)})')
    ids: Dict[str, set] = {}
    for section, keys in REQUIRED_KEYS.items():
        entries = data[section]
        if not isinstance(entries, list):
            raise ValueError(f"annotation file {path}: '{section}' must be a list, got "
                             f'{type(entries).__name__}')
        seen = set()
        for i, entry in enumerate(entries):
            where = f"annotation file {path}: {section}[{i}]"
            if not isinstance(entry, dict):
                raise ValueError(f'{where} is a {type(entry).__name__}, not an object')
            lost = [k for k in keys if k not in entry]
            if lost:
                raise ValueError(f'{where} (id {entry.get("id")}) has no {lost}; '
                                 f'{section} entries need {list(keys)}')
            if entry['id'] in seen:
                raise ValueError(f'{where}: id {entry["id"]!r} is used twice in {section}')
            seen.add(entry['id'])
        ids[section] = seen
    for i, ann in enumerate(data['annotations']):
        where = f'annotation file {path}: annotations[{i}] (id {ann["id"]})'
        bbox = ann['bbox']
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4
                and all(_is_number(v) for v in bbox)):
            raise ValueError(f'{where}: bbox must be 4 numbers [x, y, w, h], got {bbox!r}')
        if bbox[2] < 0 or bbox[3] < 0:
            raise ValueError(f'{where}: bbox {bbox} has a negative width or height; COCO boxes '
                             'are [x, y, w, h], not [x1, y1, x2, y2]')
        if not _is_number(ann['area']):
            raise ValueError(f'{where}: area must be a number, got {ann["area"]!r}')
        if ann['image_id'] not in ids['images']:
            raise ValueError(f'{where}: image_id {ann["image_id"]!r} is not an id in images')
        if ann['category_id'] not in ids['categories']:
            raise ValueError(f'{where}: category_id {ann["category_id"]!r} is not an id in '
                             f'categories {sorted(ids["categories"])}')
    return data


class CheckedCOCO(COCO):
    """mmdet's COCO API over a checked annotation file; asking for class names that are not
    categories of the file raises instead of silently dropping them."""

    def __init__(self, annotation_file: Optional[str] = None):
        super().__init__(None)
        self.annotation_file = annotation_file
        if annotation_file is not None:
            self.dataset = load_coco_json(annotation_file)
            self.createIndex()
            self.img_ann_map = self.imgToAnns
            self.cat_img_map = self.catToImgs

    def get_cat_ids(self, cat_names=[], sup_names=[], cat_ids=[]):
        names = {c['name'] for c in self.dataset.get('categories', [])}
        lost = [n for n in cat_names if n not in names]
        if lost:
            raise ValueError(f'classes {lost} of the dataset metainfo are not categories of '
                             f'{self.annotation_file}, whose categories are '
                             f'{[c["name"] for c in self.dataset["categories"]]}; set '
                             'metainfo=dict(classes=...) to names of the file')
        return super().get_cat_ids(cat_names, sup_names, cat_ids)


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """mmdet's :class:`~mmdet.datasets.CocoDataset`, checking its input before loading it.

    Loading fails with a message that names the problem: a missing data root, annotation file
    or image folder (with how to get one: ``hint``), an annotation file that is not JSON or not
    a COCO detection file, an entry without a key mmdet reads, a bbox that is not 4 numbers,
    an id that refers to nothing (:func:`check_coco_dict`), or metainfo classes that are not
    categories of the file. Otherwise it is CocoDataset: same arguments, same data.

    Args:
        hint (str): How to get the data, appended to "does not exist" errors; ``{root}`` is
            replaced by the data root. Default: how to generate the synthetic shapes set.
        **kwargs: Arguments of :class:`~mmdet.datasets.CocoDataset`.
    """
    COCOAPI = CheckedCOCO

    def __init__(self, *args, hint: str = SHAPES_HINT, **kwargs):
        self.hint = hint
        super().__init__(*args, **kwargs)

    def _missing(self, what: str, path: str) -> FileNotFoundError:
        root = self.data_root or osp.dirname(path)
        return FileNotFoundError(f'{what} {path} does not exist: {self.hint.format(root=root)}')

    def load_data_list(self) -> List[dict]:
        if self.backend_args is None:  # local files: check the paths
            if self.data_root and not osp.isdir(self.data_root):
                raise self._missing('data root', self.data_root)
            if not osp.isfile(self.ann_file):
                raise self._missing('annotation file', self.ann_file)
            img_dir = self.data_prefix.get('img', '')
            if img_dir and not osp.isdir(img_dir):
                raise self._missing('image folder', img_dir)
        return super().load_data_list()
