"""The network-wide sparsity budget of SBNN: a one-sided penalty on the fraction of active
binary weights, scaled to a fixed share of the loss.

Schiavone, Galati, Zuluaga, "Binary domain generalization for sparsifying binary neural
networks", ECML-PKDD 2023; the formula is read from the official code
(github.com/robustml-eurecom/SBNN, ``CIFAR-10/main_learn.py``, ``train``), the paper's text could
not be read::

    h = 0 if EC == 0.5 else relu(total_1s / total_params - EC)
    with torch.no_grad():
        _lambda = 0 if h <= 1e-4 else gamma * loss / (h * (1 - gamma))
    loss += _lambda * h

with ``loss`` the task loss (mixup cross-entropy there), ``total_1s`` the active weights (those
at ``+1``, counted as ``0.5 sum(sign(w) + 1)`` with the sign's identity straight-through
gradient) and ``total_params`` the binary weights of the whole network. So ``h`` is the excess of
the active fraction over EC, and the penalty ``lambda h`` equals ``gamma / (1 - gamma)`` times
the task loss in value whenever the budget is exceeded (by more than ``1e-4``): ``gamma`` is the
share of the total loss the penalty takes, whatever the scale of the task loss. Its gradient is
``lambda dh/dw = lambda / (2 total)`` on every latent weight, pushing them all towards the
inactive side, with a strength that grows as ``1 / h`` near the budget.

The official READme gives gamma per EC: CIFAR-10 (IR-Net ResNet-18) in :data:`SBNN_GAMMA`,
CIFAR-100 (ReActNet-18) in :data:`SBNN_GAMMA_CIFAR100`.
"""
import numbers
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS

__all__ = ['SparseBudgetLoss', 'SBNN_GAMMA', 'SBNN_GAMMA_CIFAR100', 'sbnn_gamma']

#: (EC, gamma) of the official code's ``CIFAR-10/READme.txt``.
SBNN_GAMMA: Dict[float, float] = {0.5: 0.0, 0.25: 0.02, 0.1: 0.04, 0.05: 0.07, 0.04: 0.07,
                                  0.03: 0.08, 0.02: 0.08, 0.01: 0.10}
#: (EC, gamma) of the official code's ``CIFAR-100/READme.txt``.
SBNN_GAMMA_CIFAR100: Dict[float, float] = {0.5: 0.0, 0.05: 0.05, 0.04: 0.05, 0.03: 0.05,
                                           0.02: 0.06, 0.01: 0.07}


def sbnn_gamma(ec: float, table: Dict[float, float] = SBNN_GAMMA) -> float:
    """The official gamma for ``ec`` (within 1e-9), or a ValueError listing the table."""
    for key, gamma in table.items():
        if abs(key - ec) < 1e-9:
            return gamma
    raise ValueError(f'the official SBNN code gives gamma for EC in {sorted(table)}, not for '
                     f'EC {ec:g}: set gamma explicitly, e.g. SparseBudgetLoss(gamma=0.05)')


@MODELS.register_module()
class SparseBudgetLoss(nn.Module):
    """``lambda relu(a - EC)`` with ``lambda = gamma L / (h (1 - gamma))`` computed without
    gradient, ``h = relu(a - EC)``, ``a`` the active fraction of the network's budget layers and
    ``L`` the task loss (module docstring; 0 when ``h <= tolerance`` or ``EC >= 0.5``).

    :class:`mmbnn.engine.SparsityHook` builds it from its ``budget_loss`` config and adds its
    output to the model's loss dict as ``loss_sparsity`` (``sparsity_lambda`` is logged).

    Args:
        gamma (float, optional): The share of the total loss the penalty takes, in [0, 1); None
            for the official CIFAR-10 value of the EC (:data:`SBNN_GAMMA`: 0.02 at EC 0.25, 0.04
            at 0.1, 0.07 at 0.05, 0.10 at 0.01; a ValueError for an EC it does not list).
            Default: None.
        tolerance (float): No penalty while ``h <= tolerance`` (the official ``1e-4``), >= 0.
            Default: 1e-4.
    """

    def __init__(self, gamma: Optional[float] = None, tolerance: float = 1e-4):
        super().__init__()
        if gamma is not None and (isinstance(gamma, bool) or not isinstance(
                gamma, numbers.Real) or not 0 <= gamma < 1):
            raise ValueError(f'SparseBudgetLoss: gamma (the share of the loss the penalty takes) '
                             f'must be in [0, 1) or None, got gamma={gamma!r}')
        if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or \
                not tolerance >= 0:
            raise ValueError(f'SparseBudgetLoss: tolerance must be a number >= 0, got '
                             f'tolerance={tolerance!r}')
        self.gamma = None if gamma is None else float(gamma)
        self.tolerance = float(tolerance)

    def gamma_for(self, ec: float) -> float:
        """``gamma``, or the official one for ``ec`` when ``gamma`` is None."""
        return sbnn_gamma(ec) if self.gamma is None else self.gamma

    def forward(self, active: torch.Tensor, ec: float, task_loss: torch.Tensor,
                target_ec: Optional[float] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(penalty, lambda)``, both 0-d.

        Args:
            active (Tensor): The active fraction ``a`` (0-d, with its gradient).
            ec (float): The budget EC now.
            task_loss (Tensor): ``L`` (its value only is used).
            target_ec (float, optional): The EC whose official gamma is used when ``gamma`` is
                None (the final target while a warm-up schedule moves ``ec``). Default: ``ec``.
        """
        gamma = self.gamma_for(ec if target_ec is None else target_ec)
        if ec >= 0.5 or gamma == 0:
            h = active * 0  # the dense domain, or no budget: zero, with a (zero) gradient
            return h, h.detach()
        h = F.relu(active - ec)
        with torch.no_grad():
            lam = gamma * task_loss.detach().to(h) / (h.clamp_min(self.tolerance) * (1 - gamma))
            lam = torch.where(h > self.tolerance, lam, torch.zeros_like(lam))
        return lam * h, lam

    def extra_repr(self) -> str:
        return f'gamma={self.gamma}, tolerance={self.tolerance}'
