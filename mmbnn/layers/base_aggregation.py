"""How Group-Net combines K binary bases: learned scales lambda_k and soft connections."""
from typing import Optional, Tuple

import torch
from torch import nn

__all__ = ['BaseAggregator', 'split_bases']


def split_bases(x: torch.Tensor, num_bases: int) -> torch.Tensor:
    """View (N, K*C, ...) as (N, K, C, ...): base k holds channels [k*C, (k+1)*C)."""
    n, kc = x.shape[:2]
    return x.view(n, num_bases, kc // num_bases, *x.shape[2:])


class BaseAggregator(nn.Module):
    """Sums K bases, ``G(x) = sum_k lambda_k B_k(x)``, and mixes a group's input per base.

    Args:
        num_bases (int): K.
        learn_scales (bool): Learn lambda (one scalar per base). Otherwise lambda_k = 1/K, an
            average. The learned lambda start at 1/K times U(0.5, 1.5): the official code
            initialises them randomly, which also makes bases that start from the same
            full-precision weights receive different updates under SGD. Default: True.
        soft_gate (bool): Soft connection into this group: base k's input is
            ``sigmoid(g_k) * own_k + (1 - sigmoid(g_k)) * aggregated``, where ``own_k`` is base k's
            output of the previous group; g starts at 0. Default: False.
    """

    def __init__(self, num_bases: int, learn_scales: bool = True, soft_gate: bool = False):
        super().__init__()
        self.num_bases = num_bases
        if learn_scales:
            self.scales = nn.Parameter(torch.empty(num_bases).uniform_(0.5, 1.5) / num_bases)
        else:
            self.register_buffer('scales', torch.full((num_bases, ), 1.0 / num_bases),
                                 persistent=False)
        self.gate = nn.Parameter(torch.zeros(num_bases)) if soft_gate else None

    def expand(self, x: torch.Tensor, own: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The group's input for each base, (N, C, ...) -> (N, K*C, ...)."""
        if self.gate is None or own is None:
            return x.repeat(1, self.num_bases, *([1] * (x.dim() - 2)))
        g = torch.sigmoid(self.gate).view(1, -1, *([1] * (x.dim() - 1)))
        mixed = g * split_bases(own, self.num_bases) + (1 - g) * x.unsqueeze(1)
        return mixed.flatten(1, 2)

    def forward(self, bases: torch.Tensor) -> torch.Tensor:
        """(N, K*C, ...) -> (N, C, ...): the lambda-weighted sum over bases."""
        lam = self.scales.to(bases.dtype).view(1, -1, *([1] * (bases.dim() - 1)))
        return (lam * split_bases(bases, self.num_bases)).sum(1)

    def extra_repr(self) -> str:
        return (f'num_bases={self.num_bases}, learn_scales={isinstance(self.scales, nn.Parameter)}'
                f', soft_gate={self.gate is not None}')
