"""The converter registry of :func:`mmbnn.deploy.convert`: which modules have a bit-packed
inference replacement, which activation binarizers are signs, and how a weight binarizer splits
into signs and scales.

A converter is a function ``fn(module) -> nn.Module`` registered for a module type; it returns
the inference module that replaces ``module`` (same input, same output, eval only) or raises
:class:`NotConvertible` with the reason, and the module then stays simulated (listed in
:func:`~mmbnn.deploy.convert`'s one warning). Adding one for a new layer class::

    from mmbnn.deploy import register_converter, BitPackedConv2d

    @register_converter(MyBinaryConv)
    def _(m):
        return BitPackedConv2d.from_conv(m)   # or build your own inference module

Lookup is by exact type first; a subclass of a registered type inherits its converter only
while it does not override ``forward`` (a subclass that computes something else must register
its own, or it stays simulated). The same rule holds for the two tables below.

- :data:`SIGN_THRESHOLDS`: activation binarizers whose forward value is ``sign(x - b)``
  (sign(0) = +1), mapped to a function giving ``b`` per channel (None for 0). A binarizer that
  is not here (FPProxy, DoReFa k > 1, anything new) keeps its layer simulated.
- Weights: any 1-bit weight binarizer whose ``binary_parts(w)`` gives ``(signs, scale, None)``
  with one scale per output channel (or one per layer); an ``offset`` (sparse binarizers) keeps
  the layer simulated.
"""
from typing import Callable, Dict, Optional, Tuple, Type

import torch
from torch import nn

from mmbnn.binarizers import (ApproxSign, EDESign, IdentitySTESign, RSign, STESign,
                              SwishSign)

__all__ = ['NotConvertible', 'NotFusable', 'CONVERTERS', 'ENGINES', 'SIGN_THRESHOLDS', 'register_converter',
           'register_sign_binarizer', 'find_converter', 'sign_threshold', 'binary_weight']


class NotConvertible(Exception):
    """A module that the kernels cannot run (the message says why); it stays simulated."""


class NotFusable(Exception):
    """A container (a block, a backbone) whose fused form cannot express this instance (the
    message says why): :func:`~mmbnn.deploy.convert` converts its children one by one instead,
    and lists the reason in ``simulated_layers``' companion :func:`~mmbnn.deploy.unfused`."""


#: module type -> converter ``fn(module) -> inference module``.
CONVERTERS: Dict[Type[nn.Module], Callable[[nn.Module], nn.Module]] = {}

#: the module types whose converter is a fused engine (a whole block or backbone, its BN and
#: activations folded): :func:`~mmbnn.deploy.convert` with ``fuse=False`` skips them and
#: converts their layers one by one.
ENGINES = set()

#: activation binarizer type -> ``fn(binarizer) -> per-channel threshold b (Tensor) or None``.
SIGN_THRESHOLDS: Dict[Type[nn.Module], Callable[[nn.Module], Optional[torch.Tensor]]] = {}


def register_converter(*module_types: Type[nn.Module], engine: bool = False):
    """Decorator: register ``fn(module) -> nn.Module`` as the converter of ``module_types``
    (``engine=True``: a fused engine of a whole container, see :data:`ENGINES`)."""

    def wrap(fn):
        for t in module_types:
            CONVERTERS[t] = fn
            if engine:
                ENGINES.add(t)
        return fn

    return wrap


def register_sign_binarizer(*binarizer_types: Type[nn.Module]):
    """Decorator: register ``fn(binarizer) -> threshold or None`` for activation binarizers whose
    forward is ``sign(x - threshold)``."""

    def wrap(fn):
        for t in binarizer_types:
            SIGN_THRESHOLDS[t] = fn
        return fn

    return wrap


def _lookup(table: dict, obj) -> Optional[Callable]:
    cls = type(obj)
    if cls in table:
        return table[cls]
    for base in cls.__mro__[1:]:
        if base in table:
            # inherited only while the subclass computes what the registered class computes
            return table[base] if getattr(cls, 'forward', None) is getattr(base, 'forward',
                                                                            None) else None
    return None


def find_converter(module: nn.Module, engines: bool = True
                   ) -> Optional[Callable[[nn.Module], nn.Module]]:
    """The converter registered for ``module``'s type (see the module docstring), or None;
    ``engines=False`` ignores the fused engines (:data:`ENGINES`)."""
    fn = _lookup(CONVERTERS, module)
    if fn is not None and not engines and any(fn is CONVERTERS[t] for t in ENGINES):
        return None
    return fn


@register_sign_binarizer(STESign, IdentitySTESign, ApproxSign, SwishSign, EDESign)
def _zero_threshold(binarizer):
    return None


@register_sign_binarizer(RSign)  # and BaseShiftSign, which inherits RSign's forward
def _rsign_threshold(binarizer):
    return binarizer.bias.detach().reshape(-1)


def sign_threshold(binarizer: Optional[nn.Module], channels: int) -> Optional[torch.Tensor]:
    """The per-channel threshold ``b`` (float32, ``channels`` values) of an activation binarizer
    with sign semantics, or None for ``b = 0``; raises :class:`NotConvertible` otherwise."""
    if binarizer is None:
        raise NotConvertible('no activation binarizer (real-valued input)')
    fn = _lookup(SIGN_THRESHOLDS, binarizer)
    if fn is None:
        raise NotConvertible(f'activation binarizer {type(binarizer).__name__} is not a sign '
                             f'(not in mmbnn.deploy.SIGN_THRESHOLDS)')
    thr = fn(binarizer)
    if thr is None:
        return None
    thr = thr.detach().float().reshape(-1)
    if thr.numel() == 1:
        thr = thr.expand(channels)
    if thr.numel() != channels:
        raise NotConvertible(f'{type(binarizer).__name__} has {thr.numel()} thresholds for '
                             f'{channels} channels')
    return thr.contiguous().clone()


def binary_weight(layer: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(signs, scale)`` of a binary layer's effective weight ``signs * scale``: signs in
    {-1, +1} of the weight's shape, scale float32 with one value per output channel. Raises
    :class:`NotConvertible` for real, k-bit, offset (sparse) or otherwise scaled weights."""
    wb = getattr(layer, 'weight_binarizer', None)
    if wb is None:
        raise NotConvertible('no weight binarizer (real-valued weights)')
    name = type(wb).__name__
    if getattr(wb, 'bits', None) != 1:
        raise NotConvertible(f'{name} is a {getattr(wb, "bits", "?")}-bit quantiser')
    w = layer.weight.detach()
    with torch.no_grad():
        try:
            signs, scale, offset = wb.binary_parts(w)
        except NotImplementedError as e:
            raise NotConvertible(f'{name} has no binary_parts: {e}') from None
        if offset is not None:
            raise NotConvertible(f'{name} has an offset (sparse binary weights): kept simulated')
        if signs.shape != w.shape or not bool((signs.abs() == 1).all()):
            raise NotConvertible(f'{name}.binary_parts gave signs outside {{-1, +1}}')
        full = torch.as_tensor(scale, dtype=w.dtype).expand(w.shape).reshape(w.shape[0], -1)
        per_channel = full[:, 0]
        if not torch.equal(full, per_channel[:, None].expand_as(full)):
            raise NotConvertible(f'{name} scales the weights by more than one value per output '
                                 'channel')
        if not torch.allclose(signs * per_channel.view(-1, *[1] * (w.dim() - 1)), wb(w),
                              rtol=1e-6, atol=0):
            raise NotConvertible(f"{name}: signs * scale differs from the binarizer's output")
    return signs, per_channel.float().contiguous().clone()
