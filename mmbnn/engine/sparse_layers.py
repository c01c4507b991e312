"""Walking a model's sparse binary layers: the helpers :class:`mmbnn.engine.SparsityHook` uses."""
from typing import List, Tuple

import torch
from mmengine.model import is_model_wrapper
from torch import nn

from mmbnn.binarizers.sparse import SparseWeightBinarizer

__all__ = ['sparse_layers', 'sparse_binarizers', 'active_fraction', 'budget_fraction',
           'budget_ec']


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def _describe(model: nn.Module) -> str:
    layers = [(n, m) for n, m in model.named_modules() if hasattr(m, 'weight_binarizer')]
    if not layers:
        return 'no binary layer (no module with a weight_binarizer)'
    real = [n for n, m in layers if m.weight_binarizer is None]
    other = sorted({type(m.weight_binarizer).__name__ for _, m in layers
                    if m.weight_binarizer is not None})
    what = f'{len(layers)} binary layers'
    if real:
        what += f', {len(real)} of them with real weights (weight_binarizer=None, e.g. {real[0]!r})'
    if other:
        what += f', weight binarizers {", ".join(other)}'
    return what


def sparse_layers(model: nn.Module, owner: str = 'sparse_layers'
                  ) -> List[Tuple[str, nn.Module]]:
    """``(name, layer)`` of every layer of ``model`` (model wrappers unwrapped) whose weight
    binarizer is sparse (:class:`~mmbnn.binarizers.sparse.SparseWeightBinarizer`); a ValueError
    naming ``owner`` and saying what the model has instead if there is none."""
    model = _unwrap(model)
    found = [(n, m) for n, m in model.named_modules()
             if isinstance(getattr(m, 'weight_binarizer', None), SparseWeightBinarizer)]
    if found:
        return found
    raise ValueError(f'{owner}: the model ({type(model).__name__}) has no sparse weight binarizer '
                     f'to act on; it has {_describe(model)}. Give its binary convs '
                     "weight_binarizer=dict(type='mmbnn.SparseBinaryWeight', ec=...) (or "
                     "'mmbnn.PrunedSignWeight') through conv_cfg")


def sparse_binarizers(model: nn.Module, owner: str = 'sparse_binarizers'
                      ) -> List[Tuple[str, SparseWeightBinarizer]]:
    """``(name, binarizer)`` of every sparse weight binarizer of ``model``
    (:func:`sparse_layers`' layers; same error)."""
    prefix = lambda n: f'{n}.weight_binarizer' if n else 'weight_binarizer'  # noqa: E731
    return [(prefix(n), m.weight_binarizer) for n, m in sparse_layers(model, owner)]


@torch.no_grad()
def active_fraction(model: nn.Module) -> float:
    """Active weights / weights over every sparse binary layer of ``model`` (model wrappers
    unwrapped); a ValueError if there is none."""
    active, total = 0, 0
    for _, layer in sparse_layers(model, 'active_fraction'):
        mask = layer.weight_binarizer.active_mask(layer.weight)
        active = active + mask.sum()
        total += mask.numel()
    return float(active) / total


def budget_fraction(layers: List[nn.Module]) -> torch.Tensor:
    """The active fraction of ``layers`` (layers whose binarizer ``uses_budget``), with the
    official SBNN code's gradient: ``sum_l 0.5 sum(sign(w_l) + 1) / sum_l n_l`` (0-d), the
    sign's gradient the identity, so every latent weight gets ``1 / (2 sum_l n_l)``."""
    count = sum(layer.weight_binarizer.budget_count(layer.weight) for layer in layers)
    return count / sum(layer.weight.numel() for layer in layers)


def budget_ec(layers: List[nn.Module]) -> float:
    """The target of the network-wide budget of ``layers``: ``sum_l ec_l n_l / sum_l n_l`` with
    ``ec_l`` each layer's current EC capped at its ``max_active`` (so the one EC of the
    official code when every layer has the same)."""
    n = [layer.weight.numel() for layer in layers]
    ec = [layer.weight_binarizer.effective_ec for layer in layers]
    return sum(e * k for e, k in zip(ec, n)) / sum(n)
