"""How Group-Net combines K binary bases: learned scales lambda_k and soft connections."""
from typing import Optional, Union

import torch
from torch import nn

__all__ = ['BaseAggregator', 'split_bases', 'SCALE_INITS', 'SOFT_GATES', 'check_soft_gate']

#: ``scale_init`` of :class:`BaseAggregator`: how the learned lambda start.
SCALE_INITS = ('mean', 'rand')
#: ``soft_gate`` kinds of :class:`BaseAggregator` (``True`` means ``'block'``).
SOFT_GATES = ('block', 'base')


def split_bases(x: torch.Tensor, num_bases: int) -> torch.Tensor:
    """View (N, K*C, ...) as (N, K, C, ...): base k holds channels [k*C, (k+1)*C)."""
    n, kc = x.shape[:2]
    return x.view(n, num_bases, kc // num_bases, *x.shape[2:])


def check_soft_gate(soft_gate: Union[bool, str, None]) -> Optional[str]:
    """``soft_gate`` as None (no gate), ``'block'`` or ``'base'``; ``True`` is ``'block'``.

    Raises:
        ValueError: Anything else, naming ``soft_gate``.
    """
    if soft_gate is None or soft_gate is False:
        return None
    if soft_gate is True:
        return 'block'
    if soft_gate not in SOFT_GATES:
        raise ValueError(f"soft_gate must be False, True ('block'), 'block' or 'base', got "
                         f'soft_gate={soft_gate!r}')
    return soft_gate


class BaseAggregator(nn.Module):
    """Sums K bases, ``G(x) = sum_k lambda_k B_k(x)``, and mixes a group's input per base.

    Soft connection into a group (Group-Net's official code, ``model.py``: ``x = sigmoid(g) *
    base + (1 - sigmoid(g)) * input_mean``): base k's input is
    ``sigmoid(g) * own_k + (1 - sigmoid(g)) * aggregated``, where ``own_k`` is base k's output of
    the previous group and ``aggregated`` that group's output ``sum_k lambda_k own_k``.

    Args:
        num_bases (int): K.
        learn_scales (bool): Learn lambda (one scalar per base). Otherwise lambda_k = 1/K, an
            average (the official classification code's headline model, ``model.py``, has no
            scales: it averages). Default: True.
        soft_gate (bool | str): ``False``: no soft connection. ``True`` or ``'block'`` (the
            official code's): ONE learned gate g for the group, a Parameter of shape (1, )
            initialised with ``torch.rand(1)`` (U(0, 1), drawn from torch's global generator, so
            mmengine's ``randomness=dict(seed=...)`` fixes it). ``'base'`` (ours): one gate per
            base, shape (K, ), initialised to 0 (an even mix). Default: False.
        scale_init (str): How the learned lambda start. ``'mean'`` (ours): ``U(0.5, 1.5) / K``,
            random (bases that start from the same full-precision weights then receive
            different updates) and summing to about 1, so that a group's output keeps the scale
            of one base. ``'rand'`` (the official code's ``torch.rand(1)`` per base, in
            ``model_ablation_1.py``/``model_ablation_2.py`` and the segmentation code):
            U(0, 1), summing to about K/2. Default: 'mean'.
    """

    def __init__(self, num_bases: int, learn_scales: bool = True,
                 soft_gate: Union[bool, str] = False, scale_init: str = 'mean'):
        super().__init__()
        if scale_init not in SCALE_INITS:
            raise ValueError(f'scale_init must be one of {SCALE_INITS}, got '
                             f'scale_init={scale_init!r}')
        self.num_bases = num_bases
        self.gate_kind = check_soft_gate(soft_gate)
        if learn_scales:
            init = torch.rand(num_bases) if scale_init == 'rand' else \
                torch.empty(num_bases).uniform_(0.5, 1.5) / num_bases
            self.scales = nn.Parameter(init)
        else:
            self.register_buffer('scales', torch.full((num_bases, ), 1.0 / num_bases),
                                 persistent=False)
        if self.gate_kind == 'block':
            self.gate = nn.Parameter(torch.rand(1))
        elif self.gate_kind == 'base':
            self.gate = nn.Parameter(torch.zeros(num_bases))
        else:
            self.gate = None

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
                f', soft_gate={self.gate_kind or False}')
