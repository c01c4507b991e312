"""Activation binarizers: thin modules over :mod:`mmbnn.binarizers.functional`."""
from typing import Optional

import torch

from mmbnn.registry import MODELS
from .base import ActivationBinarizer
from .functional import ste_sign

__all__ = ['STESign']


@MODELS.register_module()
class STESign(ActivationBinarizer):
    """Sign with the clipped straight-through estimator (BNN; Courbariaux et al., 2016).

    ``q(x) = +1 if x >= 0 else -1``; ``dq/dx = 1 if |x| <= clip_value else 0``.

    Args:
        clip_value (float | None): Gradient clipping threshold; None for the plain identity STE.
            Default: 1.0.
    """

    def __init__(self, clip_value: Optional[float] = 1.0):
        super().__init__()
        if clip_value is not None and clip_value <= 0:
            raise ValueError(f'clip_value must be positive or None, got {clip_value}')
        self.clip_value = clip_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ste_sign(x, self.clip_value)

    def extra_repr(self) -> str:
        return f'bits={self.bits}, clip_value={self.clip_value}'
