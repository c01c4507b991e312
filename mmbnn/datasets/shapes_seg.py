"""Synthetic shapes scenes as an MMSegmentation dataset (the segmentation quick start's data)."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset

from mmbnn.registry import DATASETS
from .shapes import SHAPE_CLASSES

__all__ = ['ShapesSegDataset', 'SHAPES_SEG_CLASSES', 'MAKE_SHAPES_SEG']

#: Class 0 is the background, 1..3 the shapes of :data:`mmbnn.datasets.shapes.SHAPE_CLASSES`.
SHAPES_SEG_CLASSES = ('background', ) + SHAPE_CLASSES

#: The command that writes the dataset (named in the error for a missing data root).
MAKE_SHAPES_SEG = 'python tools/dataset_converters/make_shapes_seg.py --out {root}'


@DATASETS.register_module()
class ShapesSegDataset(BaseSegDataset):
    """Scenes of circles, squares and triangles (:func:`mmbnn.datasets.shapes.render_scene`) in
    MMSegmentation's folder layout, as ``tools/dataset_converters/make_shapes_seg.py`` writes
    them::

        data_root/img_dir/{train,val}/00000.png   RGB images
        data_root/ann_dir/{train,val}/00000.png   label maps: 0 background, 1 circle,
                                                  2 square, 3 triangle

    The background is a real class (``reduce_zero_label=False``). A data root without the image
    or annotation folder fails at build time with the command that generates it.

    In an mmseg config: ``dict(type='mmbnn.ShapesSegDataset', data_root=...,
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'), pipeline=[...])``.

    Args:
        img_suffix (str): Default: '.png'.
        seg_map_suffix (str): Default: '.png'.
        reduce_zero_label (bool): Default: False (0 is the background class).
        **kwargs: Other arguments of :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO = dict(
        classes=SHAPES_SEG_CLASSES,
        palette=[[0, 0, 0], [220, 20, 60], [0, 170, 80], [30, 90, 230]])

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)

    def load_data_list(self) -> List[dict]:
        for key in ('img_path', 'seg_map_path'):
            folder = self.data_prefix.get(key)
            if folder and not osp.isdir(folder):
                root = self.data_root or osp.dirname(osp.dirname(folder))
                raise FileNotFoundError(
                    f'ShapesSegDataset: data_root={self.data_root!r} has no folder {folder!r} '
                    f'({key}). Generate the dataset first: '
                    f'{MAKE_SHAPES_SEG.format(root=root or "DATA_ROOT")}')
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(
                f'ShapesSegDataset: no {self.img_suffix} images in '
                f'{self.data_prefix.get("img_path")!r} (data_root={self.data_root!r}). Generate '
                f'the dataset first: {MAKE_SHAPES_SEG.format(root=self.data_root or "DATA_ROOT")}')
        return data_list
