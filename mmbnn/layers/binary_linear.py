"""Binary fully-connected layer."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS, ROOT_MODELS
from .binary_conv_function import binary_linear_fused, fused_enabled
from .binary_layer import BinaryLayerMixin

__all__ = ['BinaryLinear']


@MODELS.register_module()
@ROOT_MODELS.register_module()
class BinaryLinear(BinaryLayerMixin, nn.Linear):
    """A ``nn.Linear`` whose input and weight pass through binarizers: ``y = b_a(x) b_w(W)^T + b``.

    With a sign activation binarizer and a ``signs * scale`` weight binarizer it computes
    ``(sign(x - t) S^T) * alpha + b`` in one fused autograd function
    (:func:`~mmbnn.layers.binary_conv_function.binary_linear_fused`): integer sums, exact in any
    order, the scale after the product, and bits kept for backward, as :class:`BinaryConv2d`;
    otherwise (and within :func:`~mmbnn.layers.reference_binary_layers`) the binarizer modules,
    then ``F.linear``.

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
        parts = self.fused_parts(x)
        if parts is not None:
            rule, threshold, signs, scale = parts
            return binary_linear_fused(x, threshold, signs, scale, self.bias, rule)
        return F.linear(self.binarize_input(x), self.binarized_weight(), self.bias)

    def fused_parts(self, x: torch.Tensor):
        """``(rule, threshold, signs, scale)`` for the fused function, or None (reference)."""
        if not fused_enabled() or self.act_binarizer is None or self.weight_binarizer is None:
            return None
        rule = self.act_binarizer.fused_sign_grad()
        if rule is None:
            return None
        threshold = self.act_binarizer.threshold()
        if threshold is not None:
            if x.dim() != 2 or threshold.shape[1] != x.shape[1]:
                return None  # the reference path raises the binarizer's error
            threshold = threshold.view(1, -1)
        split = self.weight_binarizer.fused_split(self.weight)
        if split is None:
            return None
        return (rule, threshold) + tuple(split)
