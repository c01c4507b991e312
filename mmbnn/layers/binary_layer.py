"""What binary conv and linear layers share: their two binarizers and their bit widths."""
from typing import Optional

import torch

from mmbnn.binarizers.base import FULL_PRECISION_BITS, build_binarizer
from mmbnn.binarizers.packed import load_packed_binarizer

__all__ = ['BinaryLayerMixin']


class BinaryLayerMixin:
    """Gives a ``nn.Conv2d`` or ``nn.Linear`` subclass an activation and a weight binarizer.

    ``input_bits`` and ``weight_bits`` are the bit widths the layer computes with (32 where a
    binarizer is ``None``); the summary tool and the exporter read them.
    """
    act_binarizer: Optional[torch.nn.Module]
    weight_binarizer: Optional[torch.nn.Module]

    def _init_binarizers(self, act_binarizer: Optional[dict], weight_binarizer: Optional[dict],
                         in_channels: int, out_channels: int) -> None:
        self.act_binarizer = build_binarizer(act_binarizer, channels=in_channels)
        self.weight_binarizer = build_binarizer(weight_binarizer, channels=out_channels)
        # a packed checkpoint (made loadable) gives the layer its frozen binarizer on loading
        self._register_load_state_dict_pre_hook(load_packed_binarizer, with_module=True)

    @property
    def input_bits(self) -> int:
        return FULL_PRECISION_BITS if self.act_binarizer is None else self.act_binarizer.bits

    @property
    def weight_bits(self) -> int:
        return FULL_PRECISION_BITS if self.weight_binarizer is None else self.weight_binarizer.bits

    def binarize_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.act_binarizer is None else self.act_binarizer(x)

    def binarized_weight(self) -> torch.Tensor:
        """The weight the layer computes with."""
        w = self.weight
        return w if self.weight_binarizer is None else self.weight_binarizer(w)
