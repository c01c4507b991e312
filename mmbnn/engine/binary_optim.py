"""One optimizer for the binary weights (Bop) beside another for the real parameters, as one
mmengine optimizer wrapper that a config selects (larq's ``CaseOptimizer``)::

    optim_wrapper = dict(
        constructor='mmbnn.BinaryOptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=1e-3),                 # real parameters
        binary_optimizer=dict(type='mmbnn.Bop', gamma=1e-4, threshold=1e-8),
        paramwise_cfg=dict(norm_decay_mult=0))                # real parameters only
"""
import copy
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from torch import nn
from torch.optim import Optimizer

from mmbnn.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIMIZERS

__all__ = ['CaseOptimizer', 'BinaryOptimWrapperConstructor', 'binary_weights']


def binary_weights(model: nn.Module) -> List[nn.Parameter]:
    """The latent weights of ``model``'s 1-bit layers: the ``weight`` of every module whose
    ``weight_binarizer`` has ``bits == 1`` (each parameter once, trainable ones only)."""
    seen, out = set(), []
    for m in model.modules():
        wb = getattr(m, 'weight_binarizer', None)
        w = getattr(m, 'weight', None)
        if wb is None or getattr(wb, 'bits', None) != 1 or not isinstance(w, nn.Parameter):
            continue
        if w.requires_grad and id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


@OPTIMIZERS.register_module()
class CaseOptimizer(Optimizer):
    """Several optimizers over disjoint parameters, stepping, zeroing, saving and loading as one.

    ``param_groups`` is the concatenation of the optimizers' own group dicts (the same objects),
    so mmengine's parameter schedulers and ``OptimWrapper`` see and change every group.

    Args:
        optimizers (Sequence[Optimizer]): Built optimizers, no parameter shared.
    """

    def __init__(self, optimizers: Sequence[Optimizer]):
        optimizers = list(optimizers)
        if not optimizers or not all(isinstance(o, Optimizer) for o in optimizers):
            raise TypeError(f'CaseOptimizer needs torch optimizers, got {optimizers!r}')
        params = [p for o in optimizers for g in o.param_groups for p in g['params']]
        if len({id(p) for p in params}) != len(params):
            raise ValueError('CaseOptimizer: a parameter belongs to more than one optimizer')
        super().__init__(params, {})
        self.optimizers = optimizers
        self.param_groups = [g for o in optimizers for g in o.param_groups]

    def add_param_group(self, param_group: Dict) -> None:
        if hasattr(self, 'optimizers'):
            raise NotImplementedError('add the group to one of CaseOptimizer.optimizers')
        super().add_param_group(param_group)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for o in self.optimizers:
            o.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> Dict:
        return dict(optimizers=[o.state_dict() for o in self.optimizers])

    def load_state_dict(self, state_dict: Dict) -> None:
        states = state_dict.get('optimizers')
        if not isinstance(states, list) or len(states) != len(self.optimizers):
            raise ValueError(f'CaseOptimizer state dict holds {len(states or [])} optimizer '
                             f'states, expected {len(self.optimizers)}')
        for o, s in zip(self.optimizers, states):
            o.load_state_dict(s)

    def __repr__(self) -> str:
        inner = ''.join(f'\n  {i}: ' + repr(o).replace('\n', '\n  ')
                        for i, o in enumerate(self.optimizers))
        return f'{type(self).__name__}({inner}\n)'


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BinaryOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Build an optimizer wrapper whose optimizer trains the binary weights with
    ``binary_optimizer`` (:class:`~mmbnn.engine.Bop`) and every other parameter with
    ``optimizer``, as mmengine's default constructor would (``paramwise_cfg`` applies to them).

    The binary weights are :func:`binary_weights` (the latent weights of layers with a 1-bit
    weight binarizer). Both optimizers step together inside one :class:`CaseOptimizer`; its
    param groups are the binary optimizer's, then the other's.

    Args:
        optim_wrapper_cfg (dict): mmengine's, with ``optimizer`` and ``binary_optimizer``.
        paramwise_cfg (dict, optional): For the real parameters.

    Raises:
        KeyError: ``binary_optimizer`` missing. ValueError: the model has no binary weight.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        optim_wrapper_cfg = copy.deepcopy(dict(optim_wrapper_cfg))
        if 'binary_optimizer' not in optim_wrapper_cfg:
            raise KeyError('BinaryOptimWrapperConstructor needs optim_wrapper.binary_optimizer, '
                           "e.g. dict(type='mmbnn.Bop', gamma=1e-4, threshold=1e-8)")
        self.binary_optimizer_cfg = optim_wrapper_cfg.pop('binary_optimizer')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, 'module'):
            model = model.module
        binary = binary_weights(model)
        if not binary:
            raise ValueError('BinaryOptimWrapperConstructor: the model has no trainable binary '
                             'weight (no layer with a 1-bit weight binarizer)')
        ids = {id(p) for p in binary}
        if self.paramwise_cfg:
            groups: List[dict] = []
            self.add_params(groups, model)
            real = [g for g in groups if not any(id(p) in ids for p in g['params'])]
        else:
            real = [dict(params=[p for p in model.parameters() if id(p) not in ids])]
        real_cfg = dict(copy.deepcopy(self.optimizer_cfg), params=real)
        binary_cfg = dict(copy.deepcopy(self.binary_optimizer_cfg), params=binary)
        optimizer = CaseOptimizer([MMENGINE_OPTIMIZERS.build(binary_cfg),
                                   MMENGINE_OPTIMIZERS.build(real_cfg)])
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))
