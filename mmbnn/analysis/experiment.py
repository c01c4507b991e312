"""One experiment harness: configs x seeds -> mmengine Runner -> metrics -> JSON -> table.

A comparison is a declaration: an :class:`Experiment` holding a table of :class:`Row` (model key
-> config, display name, per-row config overrides), the metric to report and how to evaluate.
The harness trains every row once per seed through ``Runner.from_cfg`` in this process, reads
the metrics from what the Runner returns (``runner.test()``'s dict, or the validation metrics
that the ``after_val_epoch`` hook receives: never from the logs), counts BOPs, FLOPs, OPs and
the size with :func:`mmbnn.analysis.summarize`, measures the CPU seconds of training, and prints
one Markdown table of mean ± standard deviation over the seeds. Runs made in separate processes
(one seed each, say) are merged from their JSON files. ``tools/analysis/compare_digits.py`` is
an example::

    EXPERIMENT = Experiment(
        title='scikit-learn digits', metric='accuracy/top1', metric_name='top-1 (%)',
        rows=[Row('fp', 'digits/resnet18-w16_1xb64_digits.py', 'ResNet-18 (full precision)'),
              Row('bnn', 'digits/bnn-r18-w16_1xb64_digits.py', 'BNN ResNet-18')])
    if __name__ == '__main__':
        EXPERIMENT.main()

Rows may share a config and differ by ``cfg_options`` (the same model at several sparsity
targets, say: ``Row('sbnn-ec0.1', 'sparse/x.py', 'SBNN, EC 0.1', {'model.backbone.conv_cfg.
weight_binarizer.ec': 0.1})``).

Command line (:meth:`Experiment.main`)::

    --models KEY ...      rows to run (default: all)
    --seeds S ...         seeds (``--seed`` too); each row trains once per seed (default: 0)
    --epochs E / --iters N
                          training length of every row (epoch- / iteration-based configs); the
                          schedulers' ``T_max`` / ``end`` that equal the configured length follow
    --subset N            train on the first N training samples only (a quick check)
    --work-dir DIR        keep the runs there, each with its final checkpoint at
                          ``DIR/KEY/seedS/final.pth`` (default: a temporary folder, removed)
    --threads N           torch CPU threads (default: 1)
    --cfg-options K=V ... overrides for every row
    --json FILE           write the results (format below)
    --load-json FILE ...  train nothing: merge saved results and print their table
    --verbose             the Runner's INFO logs

Evaluation: ``evaluate='test'`` turns validation off during training and runs ``runner.test()``
once at the end; ``evaluate='val'`` validates once, after the last epoch or iteration, and keeps
the metrics the ``after_val_epoch`` hook received.

JSON format (``format: 'mmbnn.experiment/1'``)::

    {"format": "mmbnn.experiment/1",
     "experiment": {"title", "metric", "metric_name", "evaluate"},
     "runs": [                       # one per (row, seed): what plotting scripts should read
       {"key", "name", "config",     # row key, display name, config as declared
        "cfg_options",               # the row's overrides merged with --cfg-options
        "seed", "metric", "metric_name",
        "value",                     # the metric of this run (float)
        "metrics",                   # every scalar metric the evaluation returned
        "epochs" | "iters",          # the training length (the other is null)
        "train_samples", "eval_samples", "eval_split",      # 'test' or 'val'
        "input_shape",               # [C, H, W] the counts were taken at
        "bops", "flops", "ops",      # per image: binary MACs, real MACs, BOPs / 64 + FLOPs
        "size_kb", "params",         # 1-bit weights as bits, the rest as 32-bit (1 kB = 1024 B)
        "train_cpu_s", "train_wall_s", "eval_cpu_s",        # process CPU / wall seconds
        "threads",
        "checkpoint",                # absolute path of the final checkpoint, or null
        "work_dir"}],                # null when the runs went to a removed temporary folder
     "models": [                     # one per row, derived from "runs" (rewritten on merge)
       {"key", "name", "config", "metric", "metric_name", "seeds", "values", "mean", "std",
        "bops", "flops", "ops", "size_kb", "params", "train_cpu_s" (mean), "checkpoints"}]}

``std`` is the sample standard deviation (0 for one seed). Merging files concatenates their
runs (a run of the same key and seed in a later file replaces the earlier one).
"""
import argparse
import json
import os.path as osp
import shutil
import statistics
import tempfile
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmbnn.utils import config_path
from .summary import summarize

__all__ = ['Row', 'Experiment', 'load_results', 'merge_runs', 'summarize_runs', 'format_table',
           'set_train_length', 'FORMAT']

FORMAT = 'mmbnn.experiment/1'
_EVALUATE = ('test', 'val')


@dataclass
class Row:
    """One model of an experiment.

    Args:
        key (str): Short name on the command line and in the JSON.
        config (str): Config file: absolute, relative to the working directory, or relative to
            mmbnn's ``configs/`` (``'digits/x.py'``, through :func:`mmbnn.config_path`).
        name (str): Display name in the table.
        cfg_options (dict): Overrides merged into the config (``Config.merge_from_dict`` keys,
            e.g. ``{'model.backbone.base_dilations': None}``). Default: none.
    """
    key: str
    config: str
    name: str
    cfg_options: Dict = field(default_factory=dict)


def _resolve_config(config: str) -> str:
    if osp.isfile(config):
        return osp.abspath(config)
    return config_path(config)


def set_train_length(cfg, epochs: Optional[int] = None, iters: Optional[int] = None):
    """Set the training length of ``cfg`` (in place) and make the schedule follow it.

    ``epochs`` needs an epoch-based loop (``train_cfg.max_epochs``), ``iters`` an
    iteration-based one (``train_cfg.max_iters``). Every parameter scheduler counted in the
    loop's unit (``by_epoch`` true for epochs, false for iterations) whose ``T_max`` or ``end``
    equals the configured length gets the new one, so a cosine or poly schedule that ran to the
    end still does; a validation or checkpoint interval equal to the old length follows too.
    Returns ``(epochs, iters)``: the resulting length, the other one None.

    Raises:
        ValueError: Both given, a value < 1, or the unit does not match the loop.
    """
    if epochs is not None and iters is not None:
        raise ValueError('give the training length in epochs or in iterations, not both')
    train_cfg = cfg.train_cfg
    if 'max_epochs' in train_cfg:
        unit, by_epoch, new, wrong = 'max_epochs', True, epochs, iters
    elif 'max_iters' in train_cfg:
        unit, by_epoch, new, wrong = 'max_iters', False, iters, epochs
    else:
        raise ValueError(f'train_cfg has neither max_epochs nor max_iters: {dict(train_cfg)}')
    if wrong is not None:
        raise ValueError(f'the config trains by {"epoch" if by_epoch else "iteration"} '
                         f'(train_cfg.{unit}): give the length in '
                         f'{"epochs" if by_epoch else "iterations"}')
    old = train_cfg[unit]
    if new is None:
        return (old, None) if by_epoch else (None, old)
    if isinstance(new, bool) or not isinstance(new, int) or new < 1:
        raise ValueError(f'the training length must be an int >= 1, got {new!r}')
    train_cfg[unit] = new
    if train_cfg.get('val_interval') == old:
        train_cfg.val_interval = new
    schedulers = cfg.get('param_scheduler') or []
    for sched in ([schedulers] if isinstance(schedulers, dict) else schedulers):
        if bool(sched.get('by_epoch', True)) != by_epoch:
            continue
        for k in ('T_max', 'end'):
            if sched.get(k) == old:
                sched[k] = new
    ckpt = cfg.get('default_hooks', {}).get('checkpoint')
    if ckpt is not None and ckpt.get('interval') == old:
        ckpt['interval'] = new
    return (new, None) if by_epoch else (None, new)


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _scalars(metrics: dict) -> dict:
    out = {}
    for k, v in (metrics or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


class _LastValMetrics(Hook):
    """Keeps the metrics that the last validation handed to ``after_val_epoch``."""
    priority = 'LOWEST'

    def __init__(self):
        self.metrics = None

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = dict(metrics or {})


class Experiment:
    """A table of models trained and evaluated the same way (see the module docstring).

    Args:
        title (str): What the runs are on (the data set), printed above the table.
        rows (sequence[Row]): The models, in table order; keys must be unique.
        metric (str): Key of the metric in the evaluation's result (``'accuracy/top1'``,
            ``'coco/bbox_mAP'``, ``'mIoU'``).
        metric_name (str, optional): Column label. Default: ``metric``.
        evaluate (str): ``'test'`` or ``'val'`` (module docstring). Default: ``'test'``.
        input_shape (tuple | callable, optional): ``(C, H, W)`` at which the summary counts
            ops, or a function of the config returning it. Default: ``(3, img_size, img_size)``
            from the config's ``img_size``.
        extra_metrics (sequence): More metrics shown as mean columns: keys, or ``(key,
            label)`` pairs. Default: none.
        digits (int): Decimals of the metric in the table. Default: 2.

    Raises:
        ValueError: Duplicate keys, no rows, or an unknown ``evaluate``.
    """

    def __init__(self, title: str, rows: Sequence[Row], metric: str,
                 metric_name: Optional[str] = None, evaluate: str = 'test',
                 input_shape: Union[Tuple[int, ...], Callable, None] = None,
                 extra_metrics: Sequence[str] = (), digits: int = 2):
        if not rows:
            raise ValueError('an experiment needs at least one row')
        keys = [r.key for r in rows]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f'duplicate row keys: {dup}')
        if evaluate not in _EVALUATE:
            raise ValueError(f'evaluate must be one of {_EVALUATE}, got {evaluate!r}')
        self.title = title
        self.rows = OrderedDict((r.key, r) for r in rows)
        self.metric = metric
        self.metric_name = metric_name or metric
        self.evaluate = evaluate
        self.input_shape = input_shape
        self.extra_metrics = tuple((m, m) if isinstance(m, str) else tuple(m)
                                   for m in extra_metrics)
        self.digits = int(digits)

    # ---------------------------------------------------------------- one run
    def make_config(self, key: str, seed: int, work_dir: str, epochs: Optional[int] = None,
                    iters: Optional[int] = None, subset: Optional[int] = None,
                    cfg_options: Optional[dict] = None, verbose: bool = False):
        """The config of row ``key`` set up for one run: the row's and the caller's overrides,
        the seed, the training length, evaluation once at the end, no periodic checkpoints."""
        row = self.rows[key]
        cfg = Config.fromfile(_resolve_config(row.config))
        if row.cfg_options:
            cfg.merge_from_dict(dict(row.cfg_options))
        if cfg_options:
            cfg.merge_from_dict(dict(cfg_options))
        cfg.work_dir = work_dir
        cfg.experiment_name = f'{key}_seed{seed}_{uuid.uuid4().hex[:8]}'
        cfg.randomness = dict(seed=seed, deterministic=False)
        set_train_length(cfg, epochs, iters)
        if self.evaluate == 'test':
            cfg.train_cfg.pop('val_interval', None)
            cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        else:
            length = cfg.train_cfg.get('max_epochs') or cfg.train_cfg.get('max_iters')
            cfg.train_cfg.val_interval = length
        by_epoch = 'max_iters' not in cfg.train_cfg
        if cfg.get('default_hooks') is None:
            cfg.default_hooks = dict()
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1, by_epoch=by_epoch,
                                            save_last=False)
        if subset is not None:
            if isinstance(subset, bool) or not isinstance(subset, int) or subset < 1:
                raise ValueError(f'subset must be an int >= 1, got {subset!r}')
            cfg.train_dataloader.dataset.indices = subset
        cfg.log_level = 'INFO' if verbose else 'WARNING'
        return cfg

    def _input_shape(self, cfg) -> Tuple[int, ...]:
        shape = self.input_shape
        if callable(shape):
            shape = shape(cfg)
        if shape is None:
            if 'img_size' not in cfg:
                raise ValueError('the config has no img_size: give the Experiment an '
                                 'input_shape (C, H, W) for the op counts')
            shape = (3, cfg.img_size, cfg.img_size)
        return tuple(int(s) for s in shape)

    def run_one(self, key: str, seed: int, work_dir: str, keep_checkpoint: bool = True,
                input_shape=None, **config_kwargs) -> dict:
        """Train and evaluate row ``key`` with ``seed`` in ``work_dir``; returns its JSON run
        (module docstring). ``config_kwargs`` go to :meth:`make_config`."""
        row = self.rows[key]
        cfg = self.make_config(key, seed, work_dir, **config_kwargs)
        runner = Runner.from_cfg(cfg)
        recorder = None
        if self.evaluate == 'val':
            recorder = _LastValMetrics()
            runner.register_hook(recorder)
        wall, cpu = time.perf_counter(), time.process_time()
        runner.train()
        train_wall_s, train_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        cpu = time.process_time()
        if self.evaluate == 'test':
            metrics = runner.test()
            eval_loader = runner.test_dataloader
        else:
            metrics = recorder.metrics
            if metrics is None:
                raise RuntimeError(f'{key}: no validation ran during training')
            eval_loader = runner.val_dataloader
        eval_cpu_s = time.process_time() - cpu
        metrics = _scalars(metrics)
        if self.metric not in metrics:
            raise KeyError(f'{key}: the evaluation returned no {self.metric!r}; it returned '
                           f'{sorted(metrics)}')
        model = _unwrap(runner.model)
        checkpoint = None
        if keep_checkpoint:
            runner.save_checkpoint(work_dir, 'final.pth', save_optimizer=False,
                                   save_param_scheduler=False)
            checkpoint = osp.abspath(osp.join(work_dir, 'final.pth'))
        shape = self._input_shape(cfg) if input_shape is None else tuple(input_shape)
        summary = summarize(model, input_shape=shape)
        options = dict(row.cfg_options)
        options.update(config_kwargs.get('cfg_options') or {})
        return dict(
            key=key, name=row.name, config=row.config, cfg_options=_jsonable(options),
            seed=seed, metric=self.metric, metric_name=self.metric_name,
            value=metrics[self.metric], metrics=metrics,
            epochs=cfg.train_cfg.get('max_epochs') if 'max_iters' not in cfg.train_cfg else None,
            iters=cfg.train_cfg.get('max_iters'),
            train_samples=len(runner.train_dataloader.dataset),
            eval_samples=len(eval_loader.dataset), eval_split=self.evaluate,
            input_shape=list(shape), bops=summary.bops, flops=summary.flops, ops=summary.ops,
            size_kb=summary.size_kb, params=summary.params, train_cpu_s=train_cpu_s,
            train_wall_s=train_wall_s, eval_cpu_s=eval_cpu_s, threads=torch.get_num_threads(),
            checkpoint=checkpoint, work_dir=osp.abspath(work_dir) if keep_checkpoint else None)

    def run(self, keys: Optional[Sequence[str]] = None, seeds: Sequence[int] = (0, ),
            work_dir: Optional[str] = None, threads: Optional[int] = 1,
            extra_options: Optional[Dict[str, dict]] = None, log: Callable = print,
            **config_kwargs) -> List[dict]:
        """Every row of ``keys`` (default: all) once per seed, seed by seed. With ``work_dir``
        the runs stay in ``work_dir/KEY/seedS`` with their final checkpoint; without, they go to
        a temporary folder removed at the end. ``extra_options``: more overrides per row key."""
        keys = list(keys or self.rows)
        unknown = [k for k in keys if k not in self.rows]
        if unknown:
            raise KeyError(f'unknown model keys {unknown}; known: {list(self.rows)}')
        if threads is not None:
            torch.set_num_threads(threads)
        root = work_dir or tempfile.mkdtemp(prefix='mmbnn_experiment_')
        runs = []
        try:
            for seed in seeds:
                for key in keys:
                    kwargs = dict(config_kwargs)
                    extra = (extra_options or {}).get(key)
                    if extra:
                        kwargs['cfg_options'] = {**(kwargs.get('cfg_options') or {}), **extra}
                    run = self.run_one(key, seed, osp.join(root, key, f'seed{seed}'),
                                       keep_checkpoint=work_dir is not None, **kwargs)
                    runs.append(run)
                    log(f'{key} seed {seed}: {self.metric_name} {run["value"]:.{self.digits}f} '
                        f'({run["train_wall_s"]:.0f} s, {run["train_cpu_s"]:.0f} CPU s)')
        finally:
            if work_dir is None:
                shutil.rmtree(root, ignore_errors=True)
        return runs

    # ---------------------------------------------------------------- results
    def results(self, runs: Sequence[dict]) -> dict:
        """The JSON document of ``runs`` (module docstring)."""
        return dict(format=FORMAT,
                    experiment=dict(title=self.title, metric=self.metric,
                                    metric_name=self.metric_name, evaluate=self.evaluate),
                    runs=list(runs), models=summarize_runs(runs))

    def header(self, runs: Sequence[dict]) -> str:
        """One line saying what the table is: data, images, input sizes, length, seeds."""
        def distinct(values):
            return ' / '.join(dict.fromkeys(values))  # first-seen order

        seeds = sorted({x['seed'] for x in runs})
        lengths = distinct(f'{r["epochs"]} epoch{"s" if r["epochs"] != 1 else ""}'
                           if r.get('epochs') else
                           f'{r["iters"]} iteration{"s" if r["iters"] != 1 else ""}'
                           for r in runs)
        images = distinct(f'{r["train_samples"]} train / {r["eval_samples"]} {r["eval_split"]}'
                          for r in runs)
        sizes = distinct(f'{r["input_shape"][-2]}x{r["input_shape"][-1]}' for r in runs)
        return (f'{self.title}, {images} images at {sizes}, {lengths}, '
                f'seed{"s" if len(seeds) > 1 else ""} {", ".join(map(str, seeds))}:')

    def table(self, runs: Sequence[dict]) -> str:
        return format_table(runs, self.metric_name, self.digits, self.extra_metrics)

    # ---------------------------------------------------------------- command line
    def argument_parser(self, description: Optional[str] = None) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(description=description or self.title)
        keys = list(self.rows)
        parser.add_argument('--models', nargs='+', choices=keys, default=keys, metavar='KEY',
                            help=f'models to run, of: {", ".join(keys)} (default: all)')
        parser.add_argument('--seeds', '--seed', dest='seeds', type=int, nargs='+',
                            default=[0], metavar='S',
                            help='random seeds; each model trains once per seed (default: 0)')
        length = parser.add_mutually_exclusive_group()
        length.add_argument('--epochs', type=int, help='training epochs of every model '
                            '(epoch-based configs; default: the configs\')')
        length.add_argument('--iters', type=int, help='training iterations of every model '
                            '(iteration-based configs; default: the configs\')')
        parser.add_argument('--subset', type=int, metavar='N',
                            help='train on the first N training samples only')
        parser.add_argument('--work-dir', help='keep the runs there, with each final checkpoint '
                            'at WORK_DIR/KEY/seedS/final.pth (default: a temporary folder, '
                            'removed at the end)')
        parser.add_argument('--threads', type=int, default=1, metavar='N',
                            help='torch CPU threads (default: 1; small convolutions gain little '
                            'from more, and lose much when the cores are shared)')
        parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                            metavar='K=V', help='config overrides for every model')
        parser.add_argument('--json', metavar='FILE', help='also write the results to FILE')
        parser.add_argument('--load-json', nargs='+', metavar='FILE',
                            help='train nothing: merge results saved with --json (e.g. one '
                            'file per seed) and print their table')
        parser.add_argument('--verbose', action='store_true', help="the Runner's INFO logs")
        return parser

    def parse_args(self, argv=None, parser: Optional[argparse.ArgumentParser] = None):
        parser = parser or self.argument_parser()
        args = parser.parse_args(argv)
        for name in ('epochs', 'iters', 'threads', 'subset'):
            value = getattr(args, name)
            if value is not None and value < 1:
                parser.error(f'--{name} must be >= 1, got {value}')
        return args

    def run_args(self, args, **kwargs) -> List[dict]:
        """:meth:`run` with the parsed command line (``kwargs`` override or add)."""
        options = dict(keys=args.models, seeds=args.seeds, work_dir=args.work_dir,
                       threads=args.threads, epochs=args.epochs, iters=args.iters,
                       subset=args.subset, cfg_options=dict(args.cfg_options),
                       verbose=args.verbose)
        options.update(kwargs)
        return self.run(**options)

    def report(self, runs: Sequence[dict], args=None) -> str:
        """Print the header and table of ``runs``; write ``--json`` if asked. Returns the
        table."""
        text = f'\n{self.header(runs)}\n\n{self.table(runs)}'
        print(text, flush=True)
        if args is not None and getattr(args, 'json', None):
            with open(args.json, 'w') as f:
                json.dump(self.results(runs), f, indent=1)
        return text

    def load_args(self, args) -> List[dict]:
        """The runs of ``--load-json`` files (merged) whose key is in ``--models``."""
        runs = [r for r in load_results(args.load_json)['runs'] if r['key'] in args.models]
        if not runs:
            raise SystemExit(f'no runs of {args.models} in {args.load_json}')
        return runs

    def main(self, argv=None) -> List[dict]:
        """The command line of the module docstring; returns the runs."""
        args = self.parse_args(argv)
        runs = self.load_args(args) if args.load_json else self.run_args(args)
        self.report(runs, args)
        return runs


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=repr))


def merge_runs(*run_lists: Iterable[dict]) -> List[dict]:
    """Concatenate runs; a later run of the same key and seed replaces an earlier one (and
    keeps the earlier's place)."""
    merged = OrderedDict()
    for runs in run_lists:
        for r in runs:
            merged[(r['key'], r['seed'])] = r
    return list(merged.values())


def load_results(paths: Sequence[str]) -> dict:
    """Merge the JSON files written by ``--json`` (module docstring); returns one document.

    Raises:
        ValueError: A file is not in this format, or the files measure different metrics.
    """
    docs = []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        if doc.get('format') != FORMAT:
            raise ValueError(f'{path} is not an experiment result ({FORMAT}); got format '
                             f'{doc.get("format")!r}')
        docs.append(doc)
    metrics = {d['experiment']['metric'] for d in docs}
    if len(metrics) > 1:
        raise ValueError(f'the files measure different metrics: {sorted(metrics)}')
    runs = merge_runs(*(d['runs'] for d in docs))
    return dict(format=FORMAT, experiment=docs[0]['experiment'], runs=runs,
                models=summarize_runs(runs))


def summarize_runs(runs: Sequence[dict]) -> List[dict]:
    """One entry per model key (first-seen order): the metric per seed, mean and std, the
    counts and the mean training CPU seconds."""
    groups = OrderedDict()
    for r in runs:
        groups.setdefault(r['key'], []).append(r)
    models = []
    for key, rs in groups.items():
        rs = sorted(rs, key=lambda r: r['seed'])
        values = [r['value'] for r in rs]
        first = rs[0]
        models.append(dict(
            key=key, name=first['name'], config=first['config'], metric=first['metric'],
            metric_name=first['metric_name'], seeds=[r['seed'] for r in rs], values=values,
            mean=statistics.mean(values),
            std=statistics.stdev(values) if len(values) > 1 else 0.0,
            **{k: first[k] for k in ('bops', 'flops', 'ops', 'size_kb', 'params')},
            train_cpu_s=statistics.mean(r['train_cpu_s'] for r in rs),
            checkpoints=[r.get('checkpoint') for r in rs]))
    return models


def format_table(runs: Sequence[dict], metric_name: Optional[str] = None, digits: int = 2,
                 extra_metrics: Sequence = ()) -> str:
    """A Markdown table, one line per model: the metric as mean ± std over the seeds (the mean
    alone for one seed), every seed's value, the ``extra_metrics``' means (keys, or ``(key,
    label)`` pairs), BOPs, FLOPs and OPs in millions, the size in kB and the mean CPU seconds
    of training."""
    extra_metrics = [(m, m) if isinstance(m, str) else tuple(m) for m in extra_metrics]
    models = summarize_runs(runs)
    if not models:
        raise ValueError('no runs to tabulate')
    metric_name = metric_name or models[0]['metric_name']
    by_key = OrderedDict()
    for r in runs:
        by_key.setdefault(r['key'], []).append(r)
    head = ['model', metric_name, 'per seed', *(label for _, label in extra_metrics),
            'BOPs (M)', 'FLOPs (M)', 'OPs (M)', 'size (kB)', 'train CPU s']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for m in models:
        value = (f'{m["mean"]:.{digits}f} ± {m["std"]:.{digits}f}' if len(m['values']) > 1
                 else f'{m["mean"]:.{digits}f}')
        cells = [m['name'], value, ' / '.join(f'{v:.{digits}f}' for v in m['values'])]
        for name, _ in extra_metrics:
            vals = [r['metrics'][name] for r in by_key[m['key']] if name in r['metrics']]
            cells.append(f'{statistics.mean(vals):.{digits}f}' if vals else '-')
        cells += [f'{m["bops"] / 1e6:.2f}', f'{m["flops"] / 1e6:.2f}', f'{m["ops"] / 1e6:.2f}',
                  f'{m["size_kb"]:.1f}', f'{m["train_cpu_s"]:.0f}']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
