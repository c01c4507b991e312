"""Datasets registered in :data:`mmbnn.registry.DATASETS` (``type='mmbnn.X'`` in configs).

Each builds on one toolbox's dataset class and is imported, and so registered, only where that
toolbox is installed (:func:`mmbnn.registry.import_for_toolbox`): the digits and MNIST-5k
classification sets need mmpretrain, the checked COCO set mmdet, the shapes segmentation set
mmseg. (:mod:`mmbnn.datasets.shapes`, the shape generator, needs none.)
"""
from mmbnn.registry import import_for_toolbox

__all__ = []
__all__ += import_for_toolbox('mmpretrain', __name__, ('digits', 'mnist5k'), globals())
__all__ += import_for_toolbox('mmdet', __name__, ('coco_checked', ), globals())
__all__ += import_for_toolbox('mmseg', __name__, ('shapes_seg', ), globals())
