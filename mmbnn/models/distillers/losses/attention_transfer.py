"""Real-to-Binary's attention transfer: the binary student's spatial attention maps match the
real teacher's at the end of matching stages.

Martinez, Yang, Bulat, Tzimiropoulos, "Training Binary Neural Networks with Real-to-Binary
Convolutions", ICLR 2020, Eq. (2), after Zagoruyko, Komodakis, "Paying More Attention to
Attention", ICLR 2017::

    Q^j = sum_c |A^j_c|^2                           (an H x W map, flattened; A^j: C x H x W)
    L   = sum_j || Q^j_S / ||Q^j_S||_2 - Q^j_T / ||Q^j_T||_2 ||_p,     p = 2

for the transfer points j (the outputs of the stages; the student's and the teacher's maps at
point j must have the same H x W, the channels may differ), averaged over the batch. The
gradient flows into the student's feature maps only. Zagoruyko and Komodakis' code squares the
difference and averages it over the map's positions instead of taking the norm; the paper's norm
is kept here (``p`` selects another p-norm, as their Eq. (2) allows).

``form='larq'`` is larq-zoo's implementation of Real-to-Binary's recipe (the reference code;
``AttentionMatchingLossLayer`` in ``larq_zoo/training/knowledge_distillation``)::

    q^j = mean_c A^j_c^2 / max_hw(mean_c A^j_c^2)
    L   = mean_j mean_i mean_hw (q^j_S - q^j_T)^2

(max-normalised maps, mean squared difference, averaged over the transfer points; larq weighs it
30 against the cross-entropy).
"""
import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS
from ._utils import as_levels, check_positive

__all__ = ['AttentionTransferLoss', 'attention_map']


def attention_map(feat: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``Q / ||Q||_2`` with ``Q = sum_c |A_c|^2``: ``(N, C, H, W)`` -> ``(N, H * W)``."""
    if feat.dim() != 4:
        raise ValueError(f'attention transfer takes feature maps (N, C, H, W), got shape '
                         f'{tuple(feat.shape)}')
    q = feat.pow(2).sum(dim=1).flatten(1)
    return F.normalize(q, p=2, dim=1, eps=eps)


@MODELS.register_module()
class AttentionTransferLoss(nn.Module):
    """``loss_weight * sum_j mean_i || a(S^j_i) - a(T^j_i) ||_p`` with ``a`` the normalised
    attention map of :func:`attention_map` (module docstring).

    Args:
        p (float): The norm of the difference (>= 1). Default: 2 (the paper's).
        loss_weight (float): Factor on the loss. Default: 1.0.
        form (str): ``'paper'`` (Eq. 2, above) or ``'larq'`` (larq-zoo's code, module
            docstring; ``p`` must then stay 2). Default: ``'paper'``.
    """
    FORMS = ('paper', 'larq')

    def __init__(self, p: float = 2.0, loss_weight: float = 1.0, form: str = 'paper'):
        super().__init__()
        self.p = check_positive('p', p)
        if self.p < 1:
            raise ValueError(f'p must be >= 1 (a norm), got {p!r}')
        if form not in self.FORMS:
            raise ValueError(f'form must be one of {self.FORMS}, got {form!r}')
        if form == 'larq' and self.p != 2:
            raise ValueError(f"form='larq' squares the difference: p must be 2, got {p!r}")
        self.form = form
        self.loss_weight = float(loss_weight)

    def forward(self, student, teacher) -> torch.Tensor:
        """``student``, ``teacher``: one feature map ``(N, C, H, W)`` or a sequence of them,
        pairwise matching in N, H and W."""
        students = as_levels('AttentionTransferLoss', student)
        teachers = as_levels('AttentionTransferLoss', teacher)
        if len(students) != len(teachers):
            raise ValueError(f'AttentionTransferLoss: {len(students)} student maps but '
                             f'{len(teachers)} teacher maps')
        total = students[0].new_zeros(())
        for j, (s, t) in enumerate(zip(students, teachers)):
            if s.dim() != 4 or t.dim() != 4 or s.shape[0] != t.shape[0] or \
                    s.shape[-2:] != t.shape[-2:]:
                raise ValueError(f'AttentionTransferLoss: pair {j} has student '
                                 f'{tuple(s.shape)} and teacher {tuple(t.shape)}; they need '
                                 'the same N, H and W')
            if self.form == 'larq':
                diff = _max_normalised_map(s) - _max_normalised_map(t.detach())
                total = total + diff.pow(2).mean(dim=1).mean() / len(students)
                continue
            diff = attention_map(s) - attention_map(t.detach())
            total = total + torch.linalg.vector_norm(diff, ord=self.p, dim=1).mean()
        return self.loss_weight * total

    def extra_repr(self) -> str:
        s = f'p={self.p:g}, loss_weight={self.loss_weight:g}'
        return s + (f", form='{self.form}'" if self.form != 'paper' else '')


def _max_normalised_map(feat: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """larq-zoo's ``mean_c A_c^2 / max_hw``: ``(N, C, H, W)`` -> ``(N, H * W)``."""
    q = feat.pow(2).mean(dim=1).flatten(1)
    return q / q.amax(dim=1, keepdim=True).clamp_min(eps)
