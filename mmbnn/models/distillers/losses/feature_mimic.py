"""Feature mimicking for dense prediction: the student's FPN features imitate the teacher's at
every level, optionally only at object locations.

Fine-grained feature imitation (FGFI): Wang, Yuan, Zhang, Feng, "Distilling Object Detectors with
Fine-grained Feature Imitation", CVPR 2019, Eq. (2), used for 1-bit detectors by LWS-Det (Xu et
al., "Layer-wise Searching for 1-bit Detectors", CVPR 2021, its L_Lim)::

    L = 1 / (2 N_p) sum_l sum_{(i, j) in M_l} sum_c (S^l_cij - T^l_cij)^2,    N_p = sum_l |M_l|

per image and level ``l`` of the pyramid, ``M_l`` the imitation mask of the level (FGFI: the
locations near objects; here the level's positives as the detector's own assignment gives them,
:func:`~mmbnn.models.distillers.fcos_positive_masks`, or every location when no mask is given),
``N_p`` the number of masked locations over the batch and all levels. FGFI adapts the student's
channels with a 1x1 conv; here the channels must match (the student's FPN has the teacher's
width), so there is none, and nothing but the student's own modules is trained.

``normalize=True`` first standardises each channel of each level to zero mean and unit variance
over (N, H, W), separately in the student and the teacher (Cao et al., "PKD: General
Distillation Framework for Object Detectors via Pearson Correlation Coefficient", NeurIPS 2022),
so that the student imitates the teacher's pattern, not its scale: a binary FPN and a real one
need not produce features of the same magnitude.
"""
from typing import Optional, Sequence

import torch
from torch import nn

from mmbnn.registry import MODELS
from ._utils import as_levels

__all__ = ['FeatureMimicLoss', 'standardize']


def standardize(feat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each channel of ``(N, C, H, W)`` to zero mean and unit variance over (N, H, W)."""
    mean = feat.mean(dim=(0, 2, 3), keepdim=True)
    var = feat.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (feat - mean) / (var + eps).sqrt()


@MODELS.register_module()
class FeatureMimicLoss(nn.Module):
    """``loss_weight / (2 N_p) * sum_l sum_{masked (n, i, j)} ||S^l_nij - T^l_nij||^2``
    (module docstring).

    Args:
        normalize (bool): Standardise every channel of every level first (PKD). Default: False.
        loss_weight (float): Factor on the loss. Default: 1.0.
    """

    def __init__(self, normalize: bool = False, loss_weight: float = 1.0):
        super().__init__()
        if not isinstance(normalize, bool):
            raise TypeError(f'normalize must be a bool, got {normalize!r}')
        self.normalize = normalize
        self.loss_weight = float(loss_weight)

    def forward(self, student, teacher,
                masks: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
        """``student``, ``teacher``: one feature map ``(N, C, H, W)`` or one per level;
        ``masks``: one boolean ``(N, H, W)`` per level (None: every location)."""
        students = as_levels('FeatureMimicLoss', student)
        teachers = as_levels('FeatureMimicLoss', teacher)
        if len(students) != len(teachers):
            raise ValueError(f'FeatureMimicLoss: {len(students)} student levels but '
                             f'{len(teachers)} teacher levels')
        if masks is not None and len(masks) != len(students):
            raise ValueError(f'FeatureMimicLoss: {len(masks)} masks for {len(students)} levels')
        total = students[0].new_zeros(())
        count = 0
        for lvl, (s, t) in enumerate(zip(students, teachers)):
            if s.dim() != 4 or s.shape != t.shape:
                raise ValueError(f'FeatureMimicLoss: level {lvl} has student '
                                 f'{tuple(s.shape)} and teacher {tuple(t.shape)}; they need '
                                 'the same (N, C, H, W)')
            t = t.detach()
            if self.normalize:
                s, t = standardize(s), standardize(t)
            sq = (s - t).pow(2).sum(dim=1)  # (N, H, W)
            if masks is None:
                total = total + sq.sum()
                count += sq.numel()
                continue
            mask = masks[lvl]
            if mask.shape != sq.shape:
                raise ValueError(f'FeatureMimicLoss: the mask of level {lvl} is '
                                 f'{tuple(mask.shape)}, the level is {tuple(sq.shape)}')
            mask = mask.to(dtype=torch.bool)
            total = total + sq[mask].sum()
            count += int(mask.sum())
        return self.loss_weight * total / (2 * max(count, 1))

    def extra_repr(self) -> str:
        return f'normalize={self.normalize}, loss_weight={self.loss_weight:g}'
