"""The hook that trains sparse binary weights: the network-wide budget penalty and the EC
schedule (SBNN, Schiavone et al., ECML-PKDD 2023)."""
import copy
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.utils import is_list_of

from mmbnn.binarizers.sparse import check_ec
from mmbnn.registry import HOOKS, MODELS, build_from_mmbnn
from .latent_clamp_hook import LatentClampHook
from .sparse_layers import _unwrap, active_fraction, budget_ec, budget_fraction, sparse_layers

__all__ = ['SparsityHook', 'ec_schedule']

#: ``SparsityHook``'s default penalty: the official one, gamma from the EC.
DEFAULT_BUDGET_LOSS = dict(type='mmbnn.SparseBudgetLoss')


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


def _task_loss(losses: dict, skip: str) -> torch.Tensor:
    """The sum of the loss terms of a loss dict, as ``BaseModel.parse_losses`` sums them (every
    key containing ``'loss'``), without gradient."""
    total = 0.
    for key, value in losses.items():
        if 'loss' not in key or key == skip:
            continue
        if isinstance(value, torch.Tensor):
            total = total + value.detach().mean()
        elif is_list_of(value, torch.Tensor):
            total = total + sum(v.detach().mean() for v in value)
    return torch.as_tensor(total)


@HOOKS.register_module()
class SparsityHook(Hook):
    """Trains the sparse weight binarizers of a model
    (:class:`~mmbnn.binarizers.SparseBinaryWeight`, :class:`~mmbnn.binarizers.PrunedSignWeight`)
    as the official SBNN code does (``CIFAR-10/main_learn.py``), in any OpenMMLab model: a config
    change (``custom_hooks``, below), no new trainer.

    - **Budget** (layers with ``SparseBinaryWeight(threshold='sign')``): one budget for the whole
      network. The hook registers a forward hook on the model that, in ``mode='loss'`` during
      training, adds ``loss_sparsity = lambda relu(a - EC)`` to the loss dict the model returns
      (:class:`mmbnn.models.SparseBudgetLoss`, built from ``budget_loss``), ``a`` the active
      fraction over those layers (with the official code's gradient, 1/2 per weight through an
      identity straight-through sign, :func:`~mmbnn.engine.sparse_layers.budget_fraction`), EC
      their weighted target (:func:`~mmbnn.engine.sparse_layers.budget_ec`) and ``lambda`` scaled
      from the task loss, i.e. the sum of the dict's other loss terms; ``sparsity_lambda`` is
      added too (logged, not summed). The Runner's ``parse_losses`` sums ``loss_sparsity`` into
      the loss that is back-propagated, and logs both.
    - **Clamp**: the official ``torch.clamp(w, -1.5, 1.5)`` after every step is
      :class:`mmbnn.engine.LatentClampHook`'s job (it reads each binarizer's ``clamp``); this
      hook checks that it is there when a sparse layer has a ``clamp``.
    - **EC schedule** (ours; off by default): before each iteration, with ``p = iter /
      max_iters``, each binarizer's current EC is ``ec + (ec_start - ec) (1 - min(p / warmup,
      1))^3`` (:func:`ec_schedule`, gradual pruning's cubic schedule), capped at its dense value
      (0.5 for the generalised domain). Quantile layers meet it exactly; the budget targets it.
      With ``warmup=0`` the target holds from the first iteration, as the official penalty acts
      from the start; on the digits a gradual ``warmup=0.5`` lost accuracy in both domains
      (12-epoch runs of the earlier quantile mode). After training every binarizer is back at
      its target.
    - **Log**: ``train/active_fraction`` (active / binary weights over every sparse layer) after
      each iteration.

    Before training the hook raises a ValueError if the model has no sparse weight binarizer, if
    it has budget layers and ``budget_loss`` is None (nothing would make them sparse), if
    ``budget_loss`` is given and no layer uses the budget (set ``budget_loss=None`` for
    per-layer quantile or pruned layers), if gamma is None and the EC has no official gamma, or
    if a sparse layer has a ``clamp`` and the Runner has no :class:`~mmbnn.engine.
    LatentClampHook` to apply it.

    In a config (the official scheme)::

        custom_hooks = [dict(type='mmbnn.EDEHook', by_epoch=True),
                        dict(type='mmbnn.LatentClampHook'), dict(type='mmbnn.SparsityHook')]

    Args:
        budget_loss (dict, optional): Config of the budget penalty, or None for none.
            Default: ``dict(type='mmbnn.SparseBudgetLoss')`` (gamma from the EC).
        warmup (float): Share of the training iterations over which EC goes from ``ec_start`` to
            the target, in [0, 1]; 0 applies the target from the first iteration. Default: 0.
        ec_start (float, optional): EC at the first iteration, in (0, 1]; only with
            ``warmup > 0``. Default: None (1.0, dense).
        log_active (bool): Log ``train/active_fraction``. Default: True.
    """
    priority = 'NORMAL'
    loss_key = 'loss_sparsity'
    lambda_key = 'sparsity_lambda'

    def __init__(self, budget_loss: Optional[dict] = DEFAULT_BUDGET_LOSS, warmup: float = 0.0,
                 ec_start: Optional[float] = None, log_active: bool = True):
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or \
                not 0 <= warmup <= 1:
            raise ValueError(f'SparsityHook: warmup must be a share of training in [0, 1], got '
                             f'warmup={warmup!r}')
        if ec_start is not None and warmup == 0:
            raise ValueError(f'SparsityHook: ec_start={ec_start!r} acts only with a warm-up '
                             '(warmup > 0)')
        self.warmup = float(warmup)
        self.ec_start = 1.0 if ec_start is None else check_ec(ec_start, 'ec_start')
        if not isinstance(log_active, bool):
            raise ValueError(f'SparsityHook: log_active must be a bool, got {log_active!r}')
        self.log_active = log_active
        self.budget_loss = None
        if budget_loss is not None:
            cfg = copy.deepcopy(budget_loss)
            self.budget_loss = cfg if isinstance(cfg, torch.nn.Module) else \
                build_from_mmbnn(cfg, MODELS)
        self._layers = None
        self._budget_layers = []
        self._handle = None
        self._target_ec = None

    # ------------------------------------------------------------------------------ set-up
    def _find(self, runner):
        if self._layers is None:
            self._layers = [m for _, m in sparse_layers(runner.model, 'SparsityHook')]
        return self._layers

    def before_train(self, runner) -> None:
        self._remove_handle()
        self._layers = None
        layers = self._find(runner)  # fails here, before the first iteration, if there is none
        self._budget_layers = [m for m in layers if m.weight_binarizer.uses_budget]
        model = _unwrap(runner.model)
        names = {id(m): n for n, m in model.named_modules()}
        if self._budget_layers and self.budget_loss is None:
            raise ValueError(
                f'SparsityHook: {len(self._budget_layers)} layers (e.g. '
                f'{names[id(self._budget_layers[0])]!r}) use the network-wide budget '
                "(SparseBinaryWeight(threshold='sign')) but budget_loss=None: nothing would make "
                "them sparse. Keep the default budget_loss, or use threshold='quantile'")
        if self.budget_loss is not None and not self._budget_layers:
            raise ValueError(
                'SparsityHook: budget_loss acts on the layers with SparseBinaryWeight('
                "threshold='sign') and the model has none (its sparse layers meet their EC per "
                "layer: threshold='quantile' or PrunedSignWeight): set budget_loss=None")
        if self._budget_layers:
            self._set(runner, None)  # every layer at its target: the budget's final EC
            self._target_ec = budget_ec(self._budget_layers)
            self.budget_loss.gamma_for(self._target_ec)  # an EC without official gamma: fail now
        clamped = [m for m in layers if getattr(m.weight_binarizer, 'clamp', None) is not None]
        if clamped and not any(isinstance(h, LatentClampHook)
                               for h in getattr(runner, 'hooks', [])):
            raise ValueError(
                f'SparsityHook: {len(clamped)} sparse layers (e.g. {names[id(clamped[0])]!r}) '
                f'have clamp={clamped[0].weight_binarizer.clamp}, which mmbnn.LatentClampHook '
                "applies after every step: add dict(type='mmbnn.LatentClampHook') to "
                'custom_hooks, or set clamp=None')
        if self._budget_layers:
            self._handle = model.register_forward_hook(self._add_budget_loss, with_kwargs=True)

    def _remove_handle(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    # ----------------------------------------------------------------------------- budget
    def _add_budget_loss(self, module, args, kwargs, output):
        if not module.training or kwargs.get('mode') != 'loss' or not isinstance(output, dict):
            return None
        active = budget_fraction(self._budget_layers)
        penalty, lam = self.budget_loss(active, budget_ec(self._budget_layers),
                                        _task_loss(output, self.loss_key),
                                        target_ec=self._target_ec)
        output[self.loss_key] = penalty
        output[self.lambda_key] = lam
        return output

    # ------------------------------------------------------------------------- schedule
    def _set(self, runner, progress: Optional[float]) -> None:
        for layer in self._find(runner):
            b = layer.weight_binarizer
            if progress is None:
                b.set_current_ec(b.ec)
            else:
                start = max(self.ec_start, b.ec)
                b.set_current_ec(ec_schedule(min(max(progress, 0.0), 1.0), b.ec, start,
                                             self.warmup))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.warmup > 0:
            self._set(runner, runner.iter / max(runner.max_iters, 1))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.log_active:
            runner.message_hub.update_scalar('train/active_fraction',
                                             active_fraction(runner.model))

    def after_train(self, runner) -> None:
        self._set(runner, None)
        self._remove_handle()
