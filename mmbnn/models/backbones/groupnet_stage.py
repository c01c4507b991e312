"""A stage of Group-Net groups: its blocks, their lambda aggregators and soft gates."""
from typing import Optional, Tuple

import torch
from torch import nn

__all__ = ['GroupNetStage']


class GroupNetStage(nn.Sequential):
    """The blocks of one ResNet stage as Group-Net groups (Zhuang et al., CVPR 2019).

    Each block is a group of K binary bases held as grouped convs over K*C channels; its
    ``aggregate`` (:class:`~mmbnn.layers.BaseAggregator`) owns the group's lambda and, with soft
    connections, its gates. From group to group the stage passes ``(x, own)``: ``x`` the
    aggregated output ``sum_k lambda_k B_k``, ``own`` the K per-base outputs before the sum::

        input of base k = x                                          (no gate)
                        = sigmoid(g_k) own_k + (1 - sigmoid(g_k)) x  (soft connection)
        bases = block(inputs);  x, own = aggregate(bases), bases

    Where the K bases share their input (no gate, or no previous group), the block takes ``x``
    once and runs its first conv as one dense conv (``num_shared_bases``), and its shared
    downsample (if any) once; with a gate the block gets the K mixed inputs (K*C channels) and
    runs its shared downsample on each. Blocks without an
    ``aggregate`` (K = 1, or the layer-wise decomposition whose convs sum their own bases) are
    plain residual blocks: ``x = block(x)``. Children are the blocks, ``0, 1, ...``, so state-dict
    keys are torchvision's (``layer1.0.conv1.weight``) and full-precision weights map onto them.

    Args:
        *blocks (nn.Module): The blocks, each with ``aggregate`` set or None.
    """

    def forward(self, x: torch.Tensor, own: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(x, own)`` -> ``(x, own)`` of the stage's last group (``own`` None without
        aggregators)."""
        for block in self:
            agg = getattr(block, 'aggregate', None)
            if agg is None:
                x, own = block(x), None
                continue
            if agg.gate is None or own is None:
                bases = block(x, num_shared_bases=agg.num_bases)
            else:
                bases = block(agg.expand(x, own))
            x, own = agg(bases), bases
        return x, own
