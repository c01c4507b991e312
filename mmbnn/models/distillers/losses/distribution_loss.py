"""ReActNet's distributional loss: the binary student matches the real teacher's class
distribution.

Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Network with Generalized
Activation Functions", ECCV 2020, Eq. (7), with Hinton, Vinyals, Dean, "Distilling the Knowledge
in a Neural Network" (2015) for the temperature::

    L = T^2 / n sum_i KL(p_T(x_i) || p_S(x_i))
      = T^2 / n sum_i sum_c p_T,c log(p_T,c / p_S,c),   p = softmax(z / T)

over the n samples of the batch, z_S / z_T the student's / teacher's logits. The gradient is
``dL/dz_S = T / n (p_S - p_T)``. ReActNet's code (``utils/KD_loss.py``, ``DistributionLoss``)
computes the cross-entropy ``-sum_c p_T,c log p_S,c``, which differs from the KL only by the
teacher's entropy: the same gradient, a different value (the KL is 0 when the student matches).
ReActNet trains with this loss alone (no label loss, T = 1):
``SingleTeacherDistiller(with_student_loss=False)``.
"""
import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS
from ._utils import check_positive, check_same_shape

__all__ = ['DistributionLoss']


@MODELS.register_module()
class DistributionLoss(nn.Module):
    """``loss_weight * T^2 * mean_i KL(softmax(z_T,i / T) || softmax(z_S,i / T))`` over the
    samples ``i`` (module docstring).

    Args:
        temperature (float): T (> 0). Default: 1.0 (ReActNet's).
        loss_weight (float): Factor on the loss. Default: 1.0.
    """

    def __init__(self, temperature: float = 1.0, loss_weight: float = 1.0):
        super().__init__()
        self.temperature = check_positive('temperature', temperature)
        self.loss_weight = float(loss_weight)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """``student``, ``teacher``: logits ``(N, C)`` (or ``(N, C, ...)``, classes on dim 1,
        averaged over every other position)."""
        check_same_shape('DistributionLoss', student, teacher)
        if student.dim() < 2:
            raise ValueError(f'DistributionLoss takes logits (N, C, ...), got shape '
                             f'{tuple(student.shape)}')
        t = self.temperature
        log_p_s = F.log_softmax(student / t, dim=1)
        log_p_t = F.log_softmax(teacher.detach() / t, dim=1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
        return self.loss_weight * t * t * kl.mean()

    def extra_repr(self) -> str:
        return f'temperature={self.temperature:g}, loss_weight={self.loss_weight:g}'
