"""The cost of sparse binary layers: bits to store them and the share of the dense binary MACs a
sparse kernel runs, per layer and over a model.

For a layer of ``n`` binary weights of which ``k`` are active (see
:mod:`mmbnn.binarizers.sparse`):

- **memory**: ``log2 C(n, k)`` bits say which weights are active (the information-theoretic size
  of the mask, reached within a few bits by an enumerative or arithmetic code; about ``n`` bits
  when ``k = n / 2``, 0 when ``k = n``), plus ``bits_per_active k`` (the sign of each kept
  weight of a pruned +-1 layer). ``log2 C(n, k) = log2 C(n, n - k)``: a layer whose active value
  is the more frequent one costs the same as its complement.
- **binary MACs**: ``min(k, n - k) / n`` of the dense ones (the rarer value is the one computed:
  ``conv(x, tau s + phi) = (phi - tau) S(x) + 2 tau conv(x, m) = (phi + tau) S(x) - 2 tau
  conv(x, 1 - m)``), plus, for the generalised domain, the window sums ``S(x)``: ``groups /
  C_out`` of the dense MACs; at most 1. A layer at its dense setting (``EC >= max_active``: 0.5
  for the generalised domain, 1 for pruned weights) counts its dense MACs: the mask
  decomposition would apply to any +-1 layer alike, so it is no saving of the domain.

The per-layer figures feed :func:`mmbnn.analysis.summarize` (its ``sparsity`` column) and
``tools/analysis/compare_sparsity.py``.
"""
import math
from typing import Dict, Optional

import torch
from torch import nn

from mmbnn.binarizers.sparse import SparseWeightBinarizer

__all__ = ['mask_bits', 'layer_cost', 'layer_sparsity', 'model_sparsity']


def mask_bits(n: int, k: int) -> float:
    """``log2 C(n, k)``: the bits needed to store which ``k`` of ``n`` weights are active."""
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


@torch.no_grad()
def layer_cost(binarizer: SparseWeightBinarizer, w: torch.Tensor,
               groups: int = 1) -> Dict[str, float]:
    """The cost of a sparse layer whose weight is ``w`` and weight binarizer ``binarizer``.

    Returns a dict: ``weights`` (n), ``active`` (k), ``active_fraction`` (k / n), ``dense_bits``
    (n, 1 bit per weight), ``sparse_bits`` (``log2 C(n, k) + bits_per_active k``) and
    ``mac_fraction`` (module docstring).
    """
    n = w.shape.numel()
    k = int(binarizer.active_mask(w).sum())
    mac_fraction = 1.0
    if binarizer.is_sparse:
        shared = groups / w.size(0) if binarizer.shared_window_sums else 0.0
        computed = min(k, n - k) if binarizer.shared_window_sums else k
        mac_fraction = min(1.0, computed / n + shared)
    return dict(weights=n, active=k, active_fraction=k / n, dense_bits=n,
                sparse_bits=mask_bits(n, k) + binarizer.bits_per_active * k,
                mac_fraction=mac_fraction)


def layer_sparsity(layer: nn.Module, strict: bool = False) -> Optional[Dict[str, float]]:
    """:func:`layer_cost` of a binary layer (``groups`` taken from the layer), or None when its
    weight binarizer is not sparse.

    Args:
        layer (nn.Module): A binary conv or linear layer (with ``weight_binarizer``).
        strict (bool): Raise a ValueError instead of returning None. Default: False.
    """
    binarizer = getattr(layer, 'weight_binarizer', None)
    if isinstance(binarizer, SparseWeightBinarizer):
        return layer_cost(binarizer, layer.weight, groups=getattr(layer, 'groups', 1))
    if strict:
        if binarizer is None and hasattr(layer, 'weight_binarizer'):
            raise ValueError(f'{type(layer).__name__} has real weights (weight_binarizer=None): '
                             'sparsity needs a sparse weight binarizer, e.g. weight_binarizer='
                             "dict(type='mmbnn.SparseBinaryWeight', ec=0.1)")
        raise ValueError(f'{type(layer).__name__} has no sparse weight binarizer (got '
                         f'{type(binarizer).__name__ if binarizer is not None else None}); use '
                         "weight_binarizer=dict(type='mmbnn.SparseBinaryWeight', ec=...) or "
                         "dict(type='mmbnn.PrunedSignWeight', ec=...)")
    return None


def model_sparsity(model: nn.Module) -> dict:
    """Per layer and in total, the cost of every sparse binary layer of ``model``.

    Returns:
        dict: ``layers`` (``{name: layer_sparsity(layer)}``, in module order), ``weights``,
        ``active``, ``active_fraction`` (active / weights over those layers), ``sparse_bits`` and
        ``bits_per_weight`` (``sparse_bits / weights``); NaN fractions if there is none.
    """
    layers = {}
    for name, module in model.named_modules():
        stats = layer_sparsity(module)
        if stats is not None:
            layers[name] = stats
    weights = sum(s['weights'] for s in layers.values())
    active = sum(s['active'] for s in layers.values())
    bits = sum(s['sparse_bits'] for s in layers.values())
    nan = float('nan')
    return dict(layers=layers, weights=weights, active=active, sparse_bits=bits,
                active_fraction=active / weights if weights else nan,
                bits_per_weight=bits / weights if weights else nan)
