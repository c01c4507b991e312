"""Group-Net's two-stage recipe on the experiment harness (:mod:`mmbnn.analysis.experiment`),
shared by ``bench_fcos_shapes.py`` and ``bench_bpac_shapes.py``.

Group-Net (Zhuang et al., CVPR 2019; official code ``pretrain.py`` / ``finetune.py``) trains a
binary network in two stages: stage 1 is the same K-base network with tanh in place of sign and
real weights; stage 2 binarizes it (``load_from`` the stage-1 checkpoint) and fine-tunes. A
benchmark of the recipe declares which rows are stage 2 of which stage-1 row (:class:`Plan`);
:func:`run_plan` trains, for every seed, each stage-1 row before the stage-2 rows that load it,
and gives every row its training length: stage-1 rows ``L1``, stage-2 rows ``L2``, and every
other row (full precision, a binary model from scratch) ``L1 + L2``, so that the comparison is at
equal total epochs (or iterations). All training goes through ``Experiment.run_args``, one
(row, seed) at a time.

Every run carries :class:`TwoStageCheckHook`, which counts the training iterations whose loss is
not finite, and in stage-2 runs evaluates the model once BEFORE fine-tuning: the stage-1
checkpoint binarized, with its BN statistics re-estimated on ``bn_batches`` training batches (the
stage-1 statistics are those of the tanh network; the re-estimation is undone before training,
so the run itself is unchanged). Its metrics join the run's metrics as ``start/<key>`` and the
count as ``check/nonfinite_iters``; :func:`check_runs` then says, for every run, whether the
metric is finite, whether any loss was not, and whether stage 2 ended at or above its start.
"""
import copy
import math
import os.path as osp
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from torch.nn.modules.batchnorm import _BatchNorm

from mmbnn.registry import HOOKS
from mmbnn.utils import config_path

__all__ = ['TwoStageCheckHook', 'Plan', 'run_plan', 'check_runs', 'START_PREFIX',
           'NONFINITE_KEY']

START_PREFIX = 'start/'
NONFINITE_KEY = 'check/nonfinite_iters'


def _rng_state():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_rng_state(state):
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])


def _training_batches(loader, num: int):
    """Up to ``num`` batches of the training set, through its pipeline and collate function,
    drawn in a fixed order WITHOUT the loader's sampler: mmengine's ``InfiniteSampler`` shares
    one index generator between all its iterators, and closing a second iterator would close
    the training loop's too."""
    dataset, size = loader.dataset, loader.batch_size or 1
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0)).tolist()
    for i in range(min(num, len(order) // size)):
        yield loader.collate_fn([dataset[j] for j in order[i * size:(i + 1) * size]])


@HOOKS.register_module(force=True)
class TwoStageCheckHook(Hook):
    """Counts non-finite training losses; with ``eval_start``, validates the model before the
    first training iteration (see the module docstring) and adds those metrics, prefixed
    ``start/``, and the count (``check/nonfinite_iters``) to the metrics of the last validation.

    Args:
        eval_start (bool): Validate before training (stage-2 runs). Default: False.
        bn_batches (int): Training batches over which the BN statistics are re-estimated (a
            cumulative average, no gradient, nothing else in train mode) before that
            validation; 0 keeps the loaded statistics. Restored afterwards. Default: 20.
    """
    priority = 'LOW'  # before the harness's recorder (LOWEST) sees the metrics

    def __init__(self, eval_start: bool = False, bn_batches: int = 20):
        if isinstance(bn_batches, bool) or not isinstance(bn_batches, int) or bn_batches < 0:
            raise ValueError(f'bn_batches must be an int >= 0, got {bn_batches!r}')
        self.eval_start = bool(eval_start)
        self.bn_batches = bn_batches
        self.start: Optional[dict] = None
        self.nonfinite = 0
        self._starting = False

    @torch.no_grad()
    def _reestimate_bn(self, runner) -> List[Tuple[_BatchNorm, dict, Optional[float]]]:
        model = runner.model
        bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
        saved = [(m, copy.deepcopy(m.state_dict()), m.momentum) for m in bns]
        if not self.bn_batches or not bns:
            return saved
        was_training = model.training
        model.eval()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches
            m.train()
        for batch in _training_batches(runner.train_dataloader, self.bn_batches):
            data = model.data_preprocessor(batch, True)
            model(**data, mode='tensor')
        model.train(was_training)
        return saved

    def before_train(self, runner) -> None:
        if not self.eval_start:
            return
        state = _rng_state()  # the check must not change the run's data order or augmentation
        saved = self._reestimate_bn(runner)
        self._starting = True
        try:
            runner.val_loop.run()
        finally:
            self._starting = False
            for m, bn_state, momentum in saved:
                m.load_state_dict(bn_state)
                m.momentum = momentum
            _set_rng_state(state)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if isinstance(loss, torch.Tensor):
            loss = loss.detach()
        if loss is not None and not math.isfinite(float(loss)):
            self.nonfinite += 1

    def after_val_epoch(self, runner, metrics=None) -> None:
        if metrics is None:
            return
        if self._starting:
            self.start = dict(metrics)
            return
        if self.start is not None:
            metrics.update({START_PREFIX + k: v for k, v in self.start.items()})
        metrics[NONFINITE_KEY] = float(self.nonfinite)


@dataclass
class Plan:
    """Which rows of an experiment are stages of the two-stage recipe.

    Args:
        stage1_of (dict): Stage-2 row key -> the key of the stage-1 row whose final checkpoint
            it loads (``load_from``).
        unit (str): ``'epochs'`` or ``'iters'``: what the lengths count.
        lengths (tuple): ``(L1, L2)``, the lengths of stage 1 and stage 2; every other row trains
            ``L1 + L2``.
        bn_batches (int): :class:`TwoStageCheckHook`'s BN re-estimation batches. Default: 20.
        options (callable, optional): ``f(key) -> dict`` of more overrides per row (data roots,
            the benchmark's command-line overrides). Default: none.
    """
    stage1_of: Dict[str, str]
    unit: str
    lengths: Tuple[int, int]
    bn_batches: int = 20
    options: Optional[Callable[[str], dict]] = None
    stage1_keys: Sequence[str] = field(init=False)

    def __post_init__(self):
        if self.unit not in ('epochs', 'iters'):
            raise ValueError(f"unit must be 'epochs' or 'iters', got {self.unit!r}")
        if len(self.lengths) != 2 or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in self.lengths):
            raise ValueError(f'lengths must be two ints >= 1 (stage 1, stage 2), got '
                             f'{self.lengths!r}')
        self.stage1_keys = tuple(dict.fromkeys(self.stage1_of.values()))
        both = set(self.stage1_keys) & set(self.stage1_of)
        if both:
            raise ValueError(f'rows {sorted(both)} are both a stage 1 and a stage 2')

    def stage(self, key: str) -> int:
        """1 (stage-1 row), 2 (stage-2 row) or 0 (a row trained in one go)."""
        return 1 if key in self.stage1_keys else 2 if key in self.stage1_of else 0

    def length(self, key: str) -> int:
        l1, l2 = self.lengths
        return {1: l1, 2: l2, 0: l1 + l2}[self.stage(key)]

    def order(self, keys: Sequence[str]) -> List[str]:
        """``keys`` with the stage-1 row of every stage-2 row inserted before it (once)."""
        out = []
        for key in keys:
            first = self.stage1_of.get(key)
            if first is not None and first not in out:
                out.append(first)
            if key not in out:
                out.append(key)
        return out


def run_plan(experiment, args, plan: Plan, log: Callable = print, **run_kwargs) -> List[dict]:
    """Train ``args.models`` (with the stage-1 rows they need) for every seed of ``args.seeds``
    through ``experiment.run_args``, one (row, seed) at a time; returns the runs in training
    order. ``run_kwargs`` go to ``run_args`` (``input_shape``...)."""
    runs = []
    for seed in args.seeds:
        checkpoints = {}
        for key in plan.order(args.models):
            options = dict(plan.options(key) if plan.options else {})
            stage = plan.stage(key)
            if stage == 2:
                options['load_from'] = checkpoints[plan.stage1_of[key]]
            hook = dict(type='mmbnn.TwoStageCheckHook', eval_start=stage == 2,
                        bn_batches=plan.bn_batches)
            options['custom_hooks'] = list(options.get('custom_hooks', _custom_hooks(
                experiment, key))) + [hook]
            run, = experiment.run_args(args, keys=[key], seeds=[seed], cfg_options=options,
                                       **{plan.unit: plan.length(key)}, log=log, **run_kwargs)
            if run['checkpoint'] is None:
                raise RuntimeError('the two-stage recipe needs the stage-1 checkpoints: give '
                                   '--work-dir')
            checkpoints[key] = run['checkpoint']
            run['stage'] = stage
            runs.append(run)
    return runs


def _custom_hooks(experiment, key: str) -> list:
    """The custom hooks the row's config already has (cfg_options replace lists whole)."""
    row = experiment.rows[key]
    cfg = Config.fromfile(row.config if osp.isfile(row.config) else config_path(row.config))
    if row.cfg_options:
        cfg.merge_from_dict(dict(row.cfg_options))
    return [dict(h) for h in cfg.get('custom_hooks', None) or []]


def check_runs(runs: Sequence[dict], plan: Plan) -> Tuple[bool, List[str]]:
    """Say, per run, whether it is healthy: a finite metric, no non-finite training loss, and
    for stage-2 runs an end at or above the binarized stage-1 start. Returns ``(all ok,
    lines)``."""
    ok, lines = True, []
    for r in runs:
        metrics = r.get('metrics', {})
        problems = []
        if not math.isfinite(r['value']):
            problems.append(f'{r["metric_name"]} is {r["value"]}')
        bad = metrics.get(NONFINITE_KEY)
        if bad is None:
            problems.append('no loss check recorded')
        elif bad:
            problems.append(f'{int(bad)} iterations with a non-finite loss')
        start = metrics.get(START_PREFIX + r['metric'])
        note = ''
        if plan.stage(r['key']) == 2:
            if start is None:
                problems.append('no start evaluation recorded')
            else:
                note = f', start {start:.4g} -> end {r["value"]:.4g}'
                if not r['value'] >= start:
                    problems.append(f'ended below its binarized start ({r["value"]:.4g} < '
                                    f'{start:.4g})')
        ok &= not problems
        lines.append(f'{r["key"]} seed {r["seed"]}: ' +
                     ('ok' if not problems else 'FAILED: ' + '; '.join(problems)) + note)
    return ok, lines
