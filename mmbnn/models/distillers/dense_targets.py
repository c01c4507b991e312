"""The positives of a dense detector's levels, from the detector's own label assignment."""
from typing import List, Sequence

import torch
from torch import nn

__all__ = ['fcos_positive_masks']


def fcos_positive_masks(detector: nn.Module, featmap_sizes: Sequence[Sequence[int]],
                        data_samples) -> List[torch.Tensor]:
    """One boolean ``(N, H_l, W_l)`` mask per level: the locations that the detector's FCOS-style
    head assigns an object to (its ``get_targets``: inside the centre region of a ground-truth
    box, with the box's regression target in the level's range), exactly the positives of its
    classification loss.

    Args:
        detector (nn.Module): An mmdet detector whose ``bbox_head`` has FCOS's
            ``prior_generator``, ``get_targets(points, batch_gt_instances)`` and
            ``num_classes`` (mmdet's ``FCOSHead`` and its subclasses, such as
            ``mmbnn.GroupNetFCOSHead``).
        featmap_sizes (sequence): ``(H_l, W_l)`` of every level.
        data_samples (list): The batch's data samples, with ``gt_instances``.

    Raises:
        TypeError: The detector has no such head.
    """
    head = getattr(detector, 'bbox_head', None)
    if head is None or not all(hasattr(head, a) for a in
                               ('prior_generator', 'get_targets', 'num_classes')):
        raise TypeError("mask='positives' needs a detector with an FCOS-style bbox_head "
                        "(prior_generator, get_targets(points, batch_gt_instances), "
                        f'num_classes); got {type(head).__name__ if head is not None else None}')
    if data_samples is None:
        raise ValueError("mask='positives' needs the batch's data samples (ground truth)")
    param = next(detector.parameters())
    sizes = [tuple(int(v) for v in s) for s in featmap_sizes]
    points = head.prior_generator.grid_priors(sizes, dtype=param.dtype, device=param.device)
    gts = [s.gt_instances for s in data_samples]
    labels, _ = head.get_targets(points, gts)
    n = len(data_samples)
    return [((lab >= 0) & (lab < head.num_classes)).view(n, h, w)
            for lab, (h, w) in zip(labels, sizes)]
