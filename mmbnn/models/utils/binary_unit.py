"""The unit every binary block and tower is made of: binary conv -> [act | norm | add shortcut].

One place for the order of the steps after a binary conv, so that a "block" means the same in
Group-Net's backbone (:mod:`mmbnn.models.backbones.binary_resnet_blocks`) and in the towers of
the Group-Net FCOS head (:class:`~mmbnn.models.dense_heads.GroupNetFCOSHead`):

- Group-Net (official code): ``order=('act', 'norm', 'add')`` with ReLU, a shortcut per conv.
- Bi-Real Net: ``order=('norm', 'add')``, no activation, a shortcut per conv.
- ReActNet: ``order=('norm', 'add', 'act')`` with RPReLU.
"""
import inspect
from typing import Optional, Sequence, Tuple


import torch
from torch import nn

__all__ = ['VALID_ORDER_OPS', 'check_order', 'add_shortcut', 'unit_post', 'conv_shared']

VALID_ORDER_OPS = ('act', 'norm', 'add')


def check_order(order: Sequence[str], act_cfg: Optional[dict]) -> Tuple[str, ...]:
    """``order`` as a tuple, or a ValueError: distinct steps of :data:`VALID_ORDER_OPS` with
    ``'norm'``, and an ``'act'`` step exactly when there is an ``act_cfg``."""
    order = tuple(order)
    bad = [op for op in order if op not in VALID_ORDER_OPS]
    if bad or len(set(order)) != len(order) or 'norm' not in order:
        raise ValueError(f'order must be distinct ops from {VALID_ORDER_OPS} including '
                         f"'norm', got {order}")
    if ('act' in order) != (act_cfg is not None):
        raise ValueError(f"order {order} and act_cfg={act_cfg} disagree: an 'act' step needs "
                         f'an act_cfg and an act_cfg needs an act step')
    return order


def add_shortcut(out: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
    """``out + shortcut``; a shortcut with C channels added to an output of K bases (K*C
    channels, base-major) goes to every base, without materialising K copies."""
    c, kc = shortcut.shape[1], out.shape[1]
    if c == kc:
        return out + shortcut
    if kc % c:
        raise ValueError(f'cannot add a shortcut of {c} channels to an output of {kc}')
    return (out.view(out.shape[0], kc // c, c, *out.shape[2:]) + shortcut.unsqueeze(1)
            ).view(out.shape)


def unit_post(out: torch.Tensor, order: Sequence[str], act: Optional[nn.Module],
              norm: nn.Module, shortcut: Optional[torch.Tensor]) -> torch.Tensor:
    """The steps after a binary conv's output ``out``, in ``order``; ``add`` is skipped when
    ``shortcut`` is None."""
    for op in order:
        if op == 'norm':
            out = norm(out)
        elif op == 'act':
            out = act(out)
        elif shortcut is not None:
            out = add_shortcut(out, shortcut)
    return out


def conv_shared(conv: nn.Module, x: torch.Tensor, num_bases: int) -> torch.Tensor:
    """``conv(x.repeat(1, K, 1, 1))`` for a conv holding K bases as groups whose bases all see
    the same input ``x``: convs whose ``forward`` takes ``num_shared_bases`` (mmbnn's binary convs
    and the backbone's real downsample convs) compute it as one dense conv of ``x`` (binarized
    once), called through the module so that hooks and the model summary see it; any other conv
    gets the repeated input."""
    if 'num_shared_bases' in inspect.signature(conv.forward).parameters:
        return conv(x, num_shared_bases=num_bases)
    return conv(x.repeat(1, num_bases, *([1] * (x.dim() - 2))))
