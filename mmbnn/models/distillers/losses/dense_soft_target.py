"""The teacher's classification scores as soft targets for a dense detector, every level, with
the level's positives and its other locations averaged apart.

Soft targets: Hinton, Vinyals, Dean (2015); for detectors, Chen, Choi, Yu, Han, Chandraker,
"Learning Efficient Object Detection Models with Knowledge Distillation", NeurIPS 2017, which
distils the teacher's class scores with a class-weighted loss because background dominates
them. A detector with sigmoid scores (FCOS, RetinaNet) has one binary classifier per class and
location, so the soft target is a Bernoulli distribution and the distance its KL divergence
(the per-class binary distillation of Yang et al., "Bridging Cross-task Protocol Inconsistency
for Distillation in Dense Object Detection", ICCV 2023)::

    p = sigmoid(s / T),  q = sigmoid(t / T)                 (student s, teacher t logits)
    d(i) = sum_c q_c log(q_c / p_c) + (1 - q_c) log((1 - q_c) / (1 - p_c))
    L = T^2 (w_pos / max(N_pos, 1) sum_{i in P} d(i) + w_neg / max(N_neg, 1) sum_{i not in P} d(i))

over every location ``i`` of every level and image; ``P`` the positives (the locations the
detector's assignment gives an object to: for FCOS, inside the centre region of a box whose size
falls in the level's regression range, :func:`~mmbnn.models.distillers.fcos_positive_masks`),
``N_pos`` / ``N_neg`` their numbers over the batch and all levels. The weighting follows the
binary-detection papers that restrict or concentrate the imitation on object locations (LWS-Det
with FGFI's near-object mask; IDa-Det with its selected object proposals): the few positives of
a level are averaged on their own, so they weigh ``w_pos`` against the ``w_neg`` of the many
background locations instead of being drowned by them. ``dL/ds = T (p - q) w / N`` per class.
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS
from ._utils import as_levels, check_positive

__all__ = ['DenseSoftTargetLoss', 'bernoulli_kl']


def bernoulli_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Elementwise ``KL(Bernoulli(sigmoid(t)) || Bernoulli(sigmoid(s)))``, stable in the logits:
    ``q (log q - log p) + (1 - q) (log(1 - q) - log(1 - p))`` with ``log sigmoid``."""
    q = torch.sigmoid(teacher_logits)
    log_p, log_1mp = F.logsigmoid(student_logits), F.logsigmoid(-student_logits)
    log_q, log_1mq = F.logsigmoid(teacher_logits), F.logsigmoid(-teacher_logits)
    return q * (log_q - log_p) + (1 - q) * (log_1mq - log_1mp)


@MODELS.register_module()
class DenseSoftTargetLoss(nn.Module):
    """``loss_weight * T^2 * (w_pos mean_{P} d + w_neg mean_{not P} d)``, ``d`` the Bernoulli KL
    of the teacher's scores from the student's, summed over the classes (module docstring).

    Args:
        temperature (float): T (> 0). Default: 1.0.
        pos_weight (float): w_pos, on the mean over the positives (>= 0). Default: 1.0.
        neg_weight (float): w_neg, on the mean over the other locations (>= 0). Default: 1.0.
        loss_weight (float): Factor on the loss. Default: 1.0.
    """

    def __init__(self, temperature: float = 1.0, pos_weight: float = 1.0,
                 neg_weight: float = 1.0, loss_weight: float = 1.0):
        super().__init__()
        self.temperature = check_positive('temperature', temperature)
        for name, value in (('pos_weight', pos_weight), ('neg_weight', neg_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f'{name} must be a number >= 0, got {value!r}')
        self.pos_weight = float(pos_weight)
        self.neg_weight = float(neg_weight)
        self.loss_weight = float(loss_weight)

    def forward(self, student, teacher, masks: Sequence[torch.Tensor]) -> torch.Tensor:
        """``student``, ``teacher``: class logits ``(N, C, H, W)``, one per level; ``masks``:
        the positives, one boolean ``(N, H, W)`` per level (required)."""
        students = as_levels('DenseSoftTargetLoss', student)
        teachers = as_levels('DenseSoftTargetLoss', teacher)
        if masks is None:
            raise TypeError("DenseSoftTargetLoss needs the positives of every level: give the "
                            "distiller's loss mask='positives'")
        if not len(students) == len(teachers) == len(masks):
            raise ValueError(f'DenseSoftTargetLoss: {len(students)} student levels, '
                             f'{len(teachers)} teacher levels, {len(masks)} masks')
        t_ = self.temperature
        pos_sum = neg_sum = students[0].new_zeros(())
        n_pos = n_neg = 0
        for lvl, (s, t, mask) in enumerate(zip(students, teachers, masks)):
            if s.dim() != 4 or s.shape != t.shape:
                raise ValueError(f'DenseSoftTargetLoss: level {lvl} has student '
                                 f'{tuple(s.shape)} and teacher {tuple(t.shape)}; they need '
                                 'the same (N, C, H, W)')
            if mask.shape != (s.shape[0], ) + s.shape[2:]:
                raise ValueError(f'DenseSoftTargetLoss: the mask of level {lvl} is '
                                 f'{tuple(mask.shape)}, the level is {tuple(s.shape)}')
            d = bernoulli_kl(s / t_, t.detach() / t_).sum(dim=1)  # (N, H, W)
            mask = mask.to(dtype=torch.bool)
            pos_sum = pos_sum + d[mask].sum()
            neg_sum = neg_sum + d[~mask].sum()
            n = int(mask.sum())
            n_pos += n
            n_neg += mask.numel() - n
        loss = (self.pos_weight * pos_sum / max(n_pos, 1) +
                self.neg_weight * neg_sum / max(n_neg, 1))
        return self.loss_weight * t_ * t_ * loss

    def extra_repr(self) -> str:
        return (f'temperature={self.temperature:g}, pos_weight={self.pos_weight:g}, '
                f'neg_weight={self.neg_weight:g}, loss_weight={self.loss_weight:g}')
