"""Datasets registered in :data:`mmbnn.registry.DATASETS` (``type='mmbnn.X'`` in configs)."""
from .coco_checked import CheckedCocoDataset
from .digits import DigitsDataset
from .shapes_seg import ShapesSegDataset

__all__ = ['DigitsDataset', 'CheckedCocoDataset', 'ShapesSegDataset']
