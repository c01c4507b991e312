"""Binary fully-connected layer."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS, ROOT_MODELS
from .binary_layer import BinaryLayerMixin

__all__ = ['BinaryLinear']


@MODELS.register_module()
@ROOT_MODELS.register_module()
class BinaryLinear(BinaryLayerMixin, nn.Linear):
    """A ``nn.Linear`` whose input and weight pass through binarizers: ``y = b_a(x) b_w(W)^T + b``.

    Args:
        in_features, out_features, bias: As for :class:`torch.nn.Linear`.
        act_binarizer (dict | None): Activation binarizer config. Default: ``dict(type='STESign')``.
        weight_binarizer (dict | None): Weight binarizer config.
            Default: ``dict(type='XNORWeight')``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 act_binarizer: Optional[dict] = dict(type='STESign'),
                 weight_binarizer: Optional[dict] = dict(type='XNORWeight'),
                 device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._init_binarizers(act_binarizer, weight_binarizer, in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.binarize_input(x), self.binarized_weight(), self.bias)
