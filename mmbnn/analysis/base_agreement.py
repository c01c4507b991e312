"""How much the K binary bases of Group-Net layers differ: the agreement of their weight signs."""
from collections import OrderedDict
from typing import Dict, Iterator, Optional, Tuple

import torch
from torch import nn

__all__ = ['base_layers', 'base_agreement', 'mean_base_agreement']


def _is_binary(m: nn.Module) -> bool:
    return getattr(m, 'weight_binarizer', None) is not None and \
        getattr(m, 'weight_bits', None) == 1 and isinstance(getattr(m, 'weight', None),
                                                            torch.Tensor)


def base_layers(model: nn.Module) -> Iterator[Tuple[str, nn.Module, int]]:
    """``(name, layer, K)`` of every binary conv whose weight holds K > 1 bases base-major:
    layer-wise K-base convs (a ``num_bases`` attribute, e.g.
    :class:`~mmbnn.layers.MultiBaseBinaryConv2d`, :class:`~mmbnn.layers.MultiDilationBinaryConv2d`)
    and the binary convs of a Group-Net group (a module with an ``aggregate`` of K > 1 bases, as
    the blocks of :class:`~mmbnn.models.backbones.GroupNetResNet`)."""
    seen = set()
    for name, m in model.named_modules():
        k = getattr(m, 'num_bases', None)
        if _is_binary(m) and isinstance(k, int) and k > 1 and id(m) not in seen:
            seen.add(id(m))
            yield name, m, k
            continue
        agg = getattr(m, 'aggregate', None)
        k = getattr(agg, 'num_bases', None)
        if isinstance(agg, nn.Module) and isinstance(k, int) and k > 1 and not _is_binary(m):
            for sub_name, sub in m.named_modules():
                if _is_binary(sub) and id(sub) not in seen and \
                        getattr(sub, 'num_bases', None) in (None, k):
                    seen.add(id(sub))
                    yield f'{name}.{sub_name}', sub, k


@torch.no_grad()
def _agreement(layer: nn.Module, k: int) -> Tuple[float, int]:
    """Mean over the pairs of bases of the share of weights whose binary signs agree, and the
    number of weights per base."""
    signs = layer.binarized_weight() >= 0  # the binary weight's sign (sign(0) = +1)
    signs = signs.reshape(k, -1)
    pos = signs.sum(0).double()
    pairs = k * (k - 1) / 2
    agree = (pos * (pos - 1) / 2 + (k - pos) * (k - pos - 1) / 2) / pairs
    return float(agree.mean()), signs.shape[1]


def base_agreement(model: nn.Module) -> Dict[str, float]:
    """Per K-base binary layer (:func:`base_layers`), the share of weight positions whose binary
    weights have the same sign in two bases, averaged over all pairs of bases: 1.0 means K
    identical bases (which compute as one), about 0.5 means independent ones. A diagnostic for
    Group-Net's bases: copied from one full-precision model they start identical."""
    return OrderedDict((name, _agreement(layer, k)[0]) for name, layer, k in base_layers(model))


def mean_base_agreement(model: nn.Module) -> Optional[float]:
    """:func:`base_agreement` over the whole model, each layer weighted by its weights per base;
    None when the model has no K-base layer."""
    total = count = 0
    for _, layer, k in base_layers(model):
        agree, n = _agreement(layer, k)
        total += agree * n
        count += n
    return total / count if count else None
