"""The weight binarizer of a layer loaded from a packed 1-bit checkpoint."""
from typing import Optional

import torch

from mmbnn.registry import MODELS
from .base import WeightBinarizer
from .functional import sign

__all__ = ['PackedBinaryWeight']


@MODELS.register_module()
class PackedBinaryWeight(WeightBinarizer):
    """A frozen 1-bit weight binarizer: ``q(w) = w``.

    :func:`mmbnn.deploy.load_packed` rebuilds a binary layer's effective weight
    ``signs * scale (+ offset)`` from a packed checkpoint, stores it as the layer's ``weight`` and
    gives the layer this binarizer, so that the layer computes with exactly that weight. The
    original binarizer cannot be kept: not every binarizer gives back its own output (IR-Net's
    standardisation does not), so re-binarizing the effective weight would change it.

    ``bits = 1``: the weight takes two values per scale entry. ``binary_parts`` splits it again
    when the parts it was rebuilt from are given (as :func:`~mmbnn.deploy.load_packed` does), so a
    loaded model packs again to the same bits; it checks that the parts rebuild ``w`` exactly.
    The gradient is the identity, but a packed model is for inference.

    Args:
        scale (Tensor, optional): The scale the weight was rebuilt with (a non-persistent buffer).
            Default: None.
        offset (Tensor, optional): Its offset, if any (a non-persistent buffer). Default: None.
    """

    def __init__(self, scale: Optional[torch.Tensor] = None,
                 offset: Optional[torch.Tensor] = None):
        super().__init__()
        if scale is None and offset is not None:
            raise ValueError('PackedBinaryWeight: an offset needs a scale')
        self.register_buffer('scale', None if scale is None else scale.detach().clone(),
                             persistent=False)
        self.register_buffer('offset', None if offset is None else offset.detach().clone(),
                             persistent=False)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def binary_parts(self, w):
        if self.scale is None:
            raise NotImplementedError('PackedBinaryWeight was built without its scale: it cannot '
                                      'split the weight into signs and scales')
        centred = w if self.offset is None else w - self.offset
        signs = sign(centred) * sign(self.scale)
        rebuilt = signs * self.scale
        if self.offset is not None:
            rebuilt = rebuilt + self.offset
        if rebuilt.shape != w.shape or not torch.equal(rebuilt, w):
            raise ValueError('PackedBinaryWeight: the weight is not signs * scale (+ offset) '
                             'of the parts this binarizer holds')
        return signs, self.scale, self.offset

    def extra_repr(self) -> str:
        return f'bits={self.bits}, offset={self.offset is not None}'
