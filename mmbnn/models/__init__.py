"""mmbnn's models, registered in :data:`mmbnn.registry.MODELS` (``type='mmbnn.X'`` in configs).

The backbones, the sparse budget loss and the distillation wrapper and losses
(:mod:`mmbnn.models.distillers`) need only mmengine and mmcv. The parts that extend a
toolbox's classes are imported, and so registered, only where that toolbox is installed: the
Group-Net FCOS head and the binary FPN need mmdet, the binary ASPP head needs mmseg
(:func:`mmbnn.registry.import_for_toolbox`; asking for one of them without its toolbox raises a
KeyError that names the toolbox).
"""
from mmbnn.registry import import_for_toolbox
from . import backbones
from . import distillers
from .backbones import *  # noqa: F401,F403
from .distillers import *  # noqa: F401,F403
from .sparse_budget import SparseBudgetLoss

__all__ = list(backbones.__all__) + ['SparseBudgetLoss'] + list(distillers.__all__)
__all__ += import_for_toolbox('mmdet', __name__, ('dense_heads', 'necks'), globals())
__all__ += import_for_toolbox('mmseg', __name__, ('decode_heads', ), globals())
