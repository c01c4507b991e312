"""Accuracy against cost, one point per model: reading the comparison benchmarks' results and
drawing the figure (``tools/analysis/plot_tradeoff.py`` is the command line).

The results are the JSON that the benchmarks write with ``--json``: the experiment harness's
format (``{"format": "mmbnn.experiment/1", "runs": [...]}``, :mod:`mmbnn.analysis.experiment`;
one run per model and seed with ``name``, ``value`` (the experiment's metric), ``metrics``,
``ops``, ``size_kb``, ``bops``) or the earlier ``compare_digits.py`` format (``{"results":
[...]}``, one row per model and seed with ``model``, ``top1``, ``ops``, ``size_kb``). Several
files are merged (seeds run in separate processes, say); they must report the same metric.

The figure has two panels sharing the metric axis: the metric against OPs (BOPs / 64 + FLOPs,
the convention of Bi-Real Net and ReActNet) and against the model size (1-bit weights counted as
1 bit, the others as 32). Each model is one point at its mean over the seeds, with the spread
(sample standard deviation) as an error bar when there are several seeds, and its name beside
it; full-precision models (no BOPs) are grey squares. The x axes are logarithmic when the values
span more than a factor of 20. matplotlib is imported only to draw, with the Agg backend.
"""
import json
import math
import statistics
from collections import OrderedDict
from numbers import Real

__all__ = ['HARNESS_FORMAT', 'ResultsError', 'read_results', 'collect', 'plot_tradeoff']

HARNESS_FORMAT = 'mmbnn.experiment/1'
#: Metric keys the earlier row format may carry, in the order they are looked for.
LEGACY_METRICS = ('top1', 'accuracy/top1', 'bbox_mAP', 'coco/bbox_mAP', 'mIoU')
LABELS = {'top1': 'top-1 (%)', 'accuracy/top1': 'top-1 (%)', 'bbox_mAP': 'bbox mAP',
          'coco/bbox_mAP': 'bbox mAP', 'mIoU': 'mIoU (%)'}


class ResultsError(ValueError):
    """A results file that cannot be plotted; the message names the file and the problem."""


def _number(path, where, row, key):
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ResultsError(f'{path}: {where} has no number {key!r} (got {value!r})')
    return float(value)


def read_results(path: str, metric=None):
    """The runs of one results file.

    Returns:
        tuple: ``(metric_label, title, runs)``; each run a dict with ``name``, ``value``,
        ``ops``, ``size_kb`` and ``bops`` (None where the file does not give it).

    Raises:
        ResultsError: The file is empty, not JSON, of another format, has no runs, or a run
            lacks a key.
    """
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ResultsError(f'{path}: cannot read it ({e.strerror})') from e
    if not text.strip():
        raise ResultsError(f'{path}: the file is empty')
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultsError(f'{path}: not JSON ({e})') from e

    if isinstance(doc, dict) and 'runs' in doc:
        fmt = doc.get('format')
        if fmt != HARNESS_FORMAT:
            raise ResultsError(f'{path}: format {fmt!r}; this tool reads {HARNESS_FORMAT!r}')
        rows, name_key, where = doc['runs'], 'name', 'runs'
        experiment = doc.get('experiment') or {}
        title = experiment.get('title')
    elif isinstance(doc, dict) and 'results' in doc:  # compare_digits.py --json before the harness
        rows, name_key, where, title = doc['results'], 'model', 'results', None
        experiment = None
    else:
        found = ', '.join(map(repr, doc)) if isinstance(doc, dict) else type(doc).__name__
        raise ResultsError(
            f'{path}: not a results file of the comparison benchmarks: expected '
            f'{{"format": "{HARNESS_FORMAT}", "runs": [...]}} (written by --json of the '
            f'experiment harness) or {{"results": [...]}}; found {found}. The runs need a '
            f'model name, the metric, "ops" and "size_kb"')
    if not isinstance(rows, list) or not rows:
        raise ResultsError(f'{path}: "{where}" is empty: no runs to plot')

    runs = []
    for i, row in enumerate(rows):
        here = f'{where}[{i}]'
        if not isinstance(row, dict):
            raise ResultsError(f'{path}: {here} is not an object')
        name = row.get(name_key)
        if not isinstance(name, str) or not name:
            raise ResultsError(f'{path}: {here} has no model name {name_key!r}')
        here = f'{here} ({name})'
        if experiment is not None:  # harness: the experiment's metric is "value"
            row_metric = row.get('metric') or experiment.get('metric')
            if metric is None or metric == row_metric:
                value = _number(path, here, row, 'value')
                label = row.get('metric_name') or experiment.get('metric_name') or row_metric
            else:
                metrics = row.get('metrics')
                if not isinstance(metrics, dict) or metric not in metrics:
                    known = ', '.join(sorted(metrics)) if isinstance(metrics, dict) else 'none'
                    raise ResultsError(f'{path}: {here} has no metric {metric!r} (its metrics: '
                                       f'{known})')
                value, label = _number(path, here, metrics, metric), metric
        else:
            key = metric or next((k for k in LEGACY_METRICS if k in row), None)
            if key is None:
                raise ResultsError(f'{path}: {here} has none of the metrics '
                                   f'{", ".join(LEGACY_METRICS)}; name one with --metric')
            value, label = _number(path, here, row, key), LABELS.get(key, key)
        bops = row.get('bops')
        runs.append(dict(name=name, value=value, label=label,
                         ops=_number(path, here, row, 'ops'),
                         size_kb=_number(path, here, row, 'size_kb'),
                         bops=float(bops) if isinstance(bops, Real) else None))
    labels = sorted({r['label'] for r in runs})
    if len(labels) > 1:
        raise ResultsError(f'{path}: the runs report different metrics ({", ".join(labels)})')
    return labels[0], title, runs


def collect(paths, metric=None, models=None):
    """Merge the files' runs into one point per model (in order of first appearance).

    Returns:
        tuple: ``(metric_label, title, points)``; each point a dict with ``name``, ``values``
        (one per seed), ``mean``, ``std`` (0 for one seed), ``ops``, ``size_kb``, ``binary``.
    """
    label, titles, groups = None, [], OrderedDict()
    for path in paths:
        file_label, title, runs = read_results(path, metric)
        if label is not None and file_label != label:
            raise ResultsError(f'{path} reports {file_label!r} but the files before it report '
                               f'{label!r}: plot one metric at a time')
        label = file_label
        if title and title not in titles:
            titles.append(title)
        for run in runs:
            groups.setdefault(run['name'], []).append(run)
    if models:
        unknown = [m for m in models if m not in groups]
        if unknown:
            raise ResultsError(f'--models {", ".join(unknown)}: not in {", ".join(paths)} '
                               f'(models: {", ".join(groups)})')
        groups = OrderedDict((m, groups[m]) for m in models)
    points = []
    for name, runs in groups.items():
        values = [r['value'] for r in runs]
        points.append(dict(
            name=name, values=values, mean=statistics.mean(values),
            std=statistics.stdev(values) if len(values) > 1 else 0.0,
            ops=runs[0]['ops'], size_kb=runs[0]['size_kb'],
            binary=None if runs[0]['bops'] is None else runs[0]['bops'] > 0))
    return label, ' / '.join(titles) or None, points


def _separate_labels(fig, ax, labels, pad=1.0):
    """Move overlapping point labels apart: in order of their points' height, each label that
    overlaps a marker or a label placed before it goes just above it (a thin line then joins it
    to its point).
    Labels of models with equal cost (all single-base binary networks, say) would else print
    on top of each other."""
    from matplotlib.transforms import Bbox
    renderer = fig.canvas.get_renderer()
    to_points = 72.0 / fig.dpi
    r = 4 / to_points  # the markers (6 points wide) as obstacles too
    placed = [Bbox([[x - r, y - r], [x + r, y + r]])
              for x, y in ax.transData.transform([t.xy for t in labels])]
    for text in sorted(labels, key=lambda t: t.xy[1]):
        box = text.get_window_extent(renderer)
        moved = False
        for _ in range(len(labels)):
            clash = [b for b in placed if b.overlaps(box)]
            if not clash:
                break
            shift = max(b.y1 for b in clash) + pad - box.y0
            x, y = text.get_position()
            text.set_position((x, y + shift * to_points))
            box = text.get_window_extent(renderer)
            moved = True
        if moved:
            text.arrow_patch = None
            ax.annotate('', text.xy, xytext=text.get_position(), textcoords='offset points',
                        arrowprops=dict(arrowstyle='-', color='0.6', linewidth=0.6,
                                        shrinkA=0, shrinkB=3))
        placed.append(box)


def plot_tradeoff(points, label, out, title=None):
    """Draw the two panels of :func:`collect`'s points and save them to ``out`` (format from
    its extension: .png, .svg, .pdf)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True)
    panels = (('ops', 1e6, 'OPs (millions) = BOPs / 64 + FLOPs'),
              ('size_kb', 1, 'model size (kB; 1-bit weights as 1 bit, others 32)'))
    texts = []
    for ax, (key, unit, xlabel) in zip(axes, panels):
        xs = [p[key] / unit for p in points]
        labels = []
        for p, x in zip(points, xs):
            fp = p['binary'] is False
            ax.errorbar(x, p['mean'], yerr=p['std'] if len(p['values']) > 1 else None,
                        fmt='s' if fp else 'o', color='0.45' if fp else 'tab:blue',
                        markersize=6, capsize=3)
            labels.append(ax.annotate(p['name'], (x, p['mean']), textcoords='offset points',
                                      xytext=(7, -3), fontsize=7.5))
        positive = [x for x in xs if x > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_xscale('log')
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        ax.margins(x=0.3, y=0.15)
        texts.append(labels)
    axes[0].set_ylabel(label)
    seeds = sorted({len(p['values']) for p in points})
    note = f'mean of {seeds[0]} seeds' if seeds == [seeds[0]] and seeds[0] > 1 else (
        'one seed' if seeds == [1] else 'mean over the seeds')
    if any(p['binary'] is False for p in points):
        note += '; grey squares: full precision'
    fig.suptitle(f'{title + ": " if title else ""}{label} against cost ({note})', fontsize=10)
    fig.tight_layout()
    for ax, labels in zip(axes, texts):
        _separate_labels(fig, ax, labels)
    fig.savefig(out, dpi=120)
    plt.close(fig)
