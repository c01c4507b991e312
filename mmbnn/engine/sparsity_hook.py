"""The hook that sets (and can anneal) the expected connections (EC) of sparse binary weights."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mmbnn.binarizers.sparse import SparseWeightBinarizer, check_ec, sparse_binarizers
from mmbnn.registry import HOOKS

__all__ = ['SparsityHook', 'ec_schedule', 'active_fraction']


@torch.no_grad()
def active_fraction(model: nn.Module) -> float:
    """Active weights / weights over every binary layer of ``model`` whose weight binarizer is
    sparse (model wrappers unwrapped); a ValueError if there is none."""
    sparse_binarizers(model, 'active_fraction')
    model = model.module if is_model_wrapper(model) else model
    active, total = 0, 0
    for module in model.modules():
        if isinstance(getattr(module, 'weight_binarizer', None), SparseWeightBinarizer):
            mask = module.weight_binarizer.active_mask(module.weight)
            active = active + mask.sum()
            total += mask.numel()
    return float(active) / total if total else float('nan')


def ec_schedule(progress: float, ec: float, ec_start: float = 1.0, warmup: float = 0.0) -> float:
    """The EC at training progress ``progress`` in [0, 1]: the cubic schedule of gradual pruning
    (Zhu and Gupta, 2017), ``ec + (ec_start - ec) (1 - min(progress / warmup, 1))^3``, from
    ``ec_start`` at ``progress = 0`` to ``ec`` from ``progress = warmup`` on (``warmup = 0``: ``ec``
    at once)."""
    if not 0 <= progress <= 1:
        raise ValueError(f'progress must be in [0, 1], got {progress}')
    if warmup <= 0 or progress >= warmup:
        return ec
    return ec + (ec_start - ec) * (1 - progress / warmup) ** 3


@HOOKS.register_module()
class SparsityHook(Hook):
    """Sets the current EC of every sparse weight binarizer of the model
    (:class:`~mmbnn.binarizers.SparseBinaryWeight`, :class:`~mmbnn.binarizers.PrunedSignWeight`)
    before each training iteration, optionally annealed from dense to its own target ``ec``, and
    logs the fraction of active weights.

    The binarizers meet their current EC exactly at every forward pass (a quantile threshold,
    see :mod:`mmbnn.binarizers.sparse`), so no loss term is needed; this hook decides how fast
    the network becomes sparse, and checks that it can. Before each training iteration, with
    ``p = iter / max_iters``, each binarizer gets ``ec + (ec_start - ec) (1 - min(p / warmup,
    1))^3`` (:func:`ec_schedule`, the cubic schedule of gradual pruning; the generalised domain
    caps it at 0.5, its dense value). With ``warmup=0`` (the default) the target holds from the
    first iteration, as the official SBNN code's penalty acts from the start; on the digits
    comparison (``tools/analysis/compare_sparsity.py``, 12 epochs) a gradual schedule with
    ``warmup=0.5`` lost accuracy in both domains. After training every binarizer is back at its
    target, so the saved and tested model has exactly its EC. After each iteration the hook puts
    ``train/active_fraction`` (active weights / binary weights, over every sparse layer) in the
    message hub, which the logger prints.

    In a config: ``custom_hooks = [dict(type='mmbnn.SparsityHook')]``. The model must have at
    least one sparse weight binarizer: else the hook raises a ValueError before training.

    Args:
        warmup (float): Share of the training iterations over which EC goes from ``ec_start`` to
            the target, in [0, 1]; 0 applies the target from the first iteration. Default: 0.
        ec_start (float): EC at the first iteration when ``warmup > 0``, in (0, 1].
            Default: 1.0 (dense).
        log_active (bool): Log ``train/active_fraction``. Default: True.
    """
    priority = 'NORMAL'

    def __init__(self, warmup: float = 0.0, ec_start: float = 1.0, log_active: bool = True):
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or \
                not 0 <= warmup <= 1:
            raise ValueError(f'SparsityHook: warmup must be a share of training in [0, 1], got '
                             f'warmup={warmup!r}')
        self.warmup = float(warmup)
        self.ec_start = check_ec(ec_start, 'ec_start')
        self.log_active = log_active
        self._binarizers = None

    def _find(self, runner):
        if self._binarizers is None:
            self._binarizers = [b for _, b in sparse_binarizers(runner.model, 'SparsityHook')]
        return self._binarizers

    def _set(self, runner, progress: Optional[float]) -> None:
        for b in self._find(runner):
            if progress is None:
                b.set_current_ec(b.ec)
            else:
                start = max(self.ec_start, b.ec)
                b.set_current_ec(ec_schedule(min(max(progress, 0.0), 1.0), b.ec, start,
                                             self.warmup))

    def before_train(self, runner) -> None:
        self._binarizers = None
        self._find(runner)  # fails here, before the first iteration, if there is none

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._set(runner, runner.iter / max(runner.max_iters, 1))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.log_active:
            runner.message_hub.update_scalar('train/active_fraction',
                                             active_fraction(runner.model))

    def after_train(self, runner) -> None:
        self._set(runner, None)
