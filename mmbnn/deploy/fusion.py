"""Fold the BN and ReLU modules that follow a bit-packed layer into its epilogue.

Which module consumes a layer's output is a fact of the model's forward code, not of its module
tree, so it is read from one traced forward pass on an example input: module calls through
forward hooks, and every torch function call (``F.batch_norm``, ``+``, in-place ops, ...) through
a ``TorchFunctionMode``. A chain ``layer -> M_1 -> M_2 ...`` is folded while each ``M_i`` is a
leaf ``BatchNorm`` (eval) or ``ReLU`` module that is the ONLY consumer of the previous output,
called exactly once per call of the layer and on nothing else, and the layer's epilogue can take
it (``y = post_scale * relu(scale * dot + shift) + post_shift``: at most an affine, a ReLU and an
affine). A folded module is replaced by :class:`FoldedInto`, which returns its input unchanged
and checks, on every call, that the input is the very tensor its layer just returned, so a model
whose data flow differs from the traced one raises instead of computing something else.

A BN shared by several layers, a ReLU module called twice (mmdet's ResNet blocks), a layer whose
output also feeds a shortcut before its BN, or a layer shared across FPN levels with one BN per
level are left alone (the ReLU of such a shared layer still folds when every call is followed by
it).
"""
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from .inference_layers import _Epilogue, bn_affine

__all__ = ['FoldedInto', 'fuse_epilogues']

_METADATA = {'shape', 'dtype', 'device', 'size', 'dim', 'ndim', 'numel', 'is_contiguous',
             'requires_grad', 'layout', 'is_floating_point', 'stride', '__len__', 'data_ptr',
             'element_size', 'is_cuda', 'is_sparse', 'is_quantized', 'names', 'is_complex',
             '_version'}


class FoldedInto(nn.Module):
    """Stands for a BN or ReLU module folded into a bit-packed layer's epilogue: returns its
    input, which must be the tensor that layer has just returned."""

    def __init__(self, layer: nn.Module, folded: str):
        super().__init__()
        object.__setattr__(self, '_layer', layer)  # not a child: no duplicate keys
        self.folded = folded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._layer.last_output() is not x:
            raise RuntimeError(
                f'{self.folded} was folded into the epilogue of the {type(self._layer).__name__} '
                'before it, but it received another tensor: this model does not run as it did '
                'when it was converted. Convert it with fuse=False.')
        return x

    def extra_repr(self) -> str:
        return f'{self.folded} (folded into the layer before it)'


def _key(t: torch.Tensor) -> Tuple[int, int]:
    return id(t), t._version


def _tensors(obj) -> List[torch.Tensor]:
    leaves, _ = tree_flatten(obj)
    return [t for t in leaves if isinstance(t, torch.Tensor)]


class _Trace:
    """Module calls and torch function calls of one forward pass."""

    def __init__(self):
        self.keep: List[torch.Tensor] = []   # holds every traced tensor (ids stay unique)
        self.stack: List[int] = []           # call ids of the modules running now
        self.calls: List[dict] = []          # module calls: module, inputs, outputs
        self.consumers: Dict[Tuple[int, int], List[Tuple[int, ...]]] = defaultdict(list)
        self.paused = False                  # True in the hooks: their reads are not uses

    def keys(self, obj) -> List[Tuple[int, int]]:
        ts = _tensors(obj)
        self.keep.extend(ts)
        paused, self.paused = self.paused, True
        try:
            return [_key(t) for t in ts]
        finally:
            self.paused = paused


class _Recorder(TorchFunctionMode):

    def __init__(self, trace: _Trace):
        super().__init__()
        self.trace = trace

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, '__name__', '')
        if self.trace.paused or name in _METADATA or getattr(
                getattr(func, '__self__', None), '__name__', '') in _METADATA:
            return func(*args, **kwargs)
        ins = self.trace.keys((args, kwargs))
        for k in ins:
            self.trace.consumers[k].append(tuple(self.trace.stack))
        out = func(*args, **kwargs)
        self.trace.keys(out)
        return out


def _trace(model: nn.Module, run: Callable[[], object]) -> _Trace:
    trace = _Trace()

    def pre(module, args):
        call = dict(module=module, inputs=trace.keys(args), outputs=[])
        trace.calls.append(call)
        trace.stack.append(len(trace.calls) - 1)

    def post(module, args, out):
        call_id = trace.stack.pop()
        trace.calls[call_id]['outputs'] = trace.keys(out)

    handles = [m.register_forward_pre_hook(pre) for m in model.modules()]
    handles += [m.register_forward_hook(post) for m in model.modules()]
    try:
        with torch.no_grad(), _Recorder(trace):
            run()
    finally:
        for h in handles:
            h.remove()
    return trace


def _foldable(m: nn.Module) -> Optional[str]:
    if isinstance(m, _BatchNorm) and not m.training and m.running_mean is not None and \
            m.running_var is not None:
        return 'affine'
    if type(m) is nn.ReLU:
        return 'relu'
    return None


def _sole_consumer(trace: _Trace, out_keys: List[Tuple[int, int]]):
    """``(module, call ids)``: the leaf module that alone consumes each of these outputs, one
    call per output, called on nothing else; ``(None, [])`` if there is none."""
    module, call_ids = None, []
    for key in out_keys:
        calls = [i for i, c in enumerate(trace.calls)
                 if key in c['inputs'] and not any(True for _ in c['module'].children())]
        if len(calls) != 1:
            return None, []
        i = calls[0]
        uses = trace.consumers.get(key, [])
        if not uses or any(i not in stack for stack in uses):
            return None, []  # used outside that call too (a shortcut, a torch op, ...)
        if module is None:
            module = trace.calls[i]['module']
        elif trace.calls[i]['module'] is not module:
            return None, []
        call_ids.append(i)
    if module is None or sorted(i for i, c in enumerate(trace.calls)
                                if c['module'] is module) != sorted(call_ids):
        return None, []
    return module, call_ids


def fuse_epilogues(model: nn.Module, run: Callable[[], object]) -> List[str]:
    """Fold BN/ReLU modules into the bit-packed layers before them (see the module docstring).

    Args:
        model (nn.Module): A converted model (eval mode).
        run (callable): Runs one forward pass of ``model`` on an example input.

    Returns:
        list[str]: ``'layer <- module'`` for every folded module.
    """
    trace = _trace(model, run)
    names = {id(m): n for n, m in model.named_modules(remove_duplicate=False)}
    parents = defaultdict(list)  # id(child) -> [(parent, attribute)]
    for parent in model.modules():
        for attr, child in parent.named_children():
            parents[id(child)].append((parent, attr))
    folded = []
    for layer in list(model.modules()):
        if not isinstance(layer, _Epilogue) or id(layer) not in names:
            continue
        calls = [c for c in trace.calls if c['module'] is layer]
        if not calls or any(len(c['outputs']) != 1 for c in calls):
            continue
        out_keys = [c['outputs'][0] for c in calls]
        while True:
            nxt, call_ids = _sole_consumer(trace, out_keys)
            kind = None if nxt is None else _foldable(nxt)
            if kind is None or not layer.can_fold(kind) or len(parents[id(nxt)]) != 1 or any(
                    len(trace.calls[i]['outputs']) != 1 for i in call_ids):
                break
            if kind == 'affine':
                layer.fold_affine(*bn_affine(nxt))
            else:
                layer.fold_relu()
            parent, attr = parents[id(nxt)][0]
            setattr(parent, attr, FoldedInto(layer, f'{type(nxt).__name__} {names[id(nxt)]}'))
            folded.append(f'{names[id(layer)]} <- {names[id(nxt)]}')
            layer._guard_output = True
            out_keys = [trace.calls[i]['outputs'][0] for i in call_ids]
    return folded

