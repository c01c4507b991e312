"""Training curves from mmengine's ``vis_data/scalars.json``: reading several runs and drawing
one panel per key (``tools/analysis/plot_logs.py`` is the command line).

A run is a work dir (its newest ``TIMESTAMP/vis_data/scalars.json`` is read), a ``TIMESTAMP``
folder, or a ``scalars.json`` file; it is named by its work dir. The x axis is the training
iteration. Training scalars (``loss``, ``lr``, ...) carry theirs; a validation metric is placed
at the iteration after which it was computed (the last training line before it in the file: the
LoggerHook writes a training line at the end of every epoch), whether the loops count epochs or
iterations and whatever ``step`` the validation line carries. A key names a scalar exactly or by
its last part: ``bbox_mAP`` finds ``coco/bbox_mAP``. matplotlib is imported only to draw, with
the Agg backend.
"""
import json
import math
import os
import os.path as osp
from numbers import Real

__all__ = ['LogError', 'find_scalars', 'run_name', 'read_scalars', 'resolve_key', 'curves',
           'plot_curves']

#: Keys that place a line on the axes rather than being plotted.
POSITION_KEYS = ('step', 'iter', 'epoch')


class LogError(ValueError):
    """A run that cannot be plotted; the message names the file and the problem."""


def find_scalars(run: str) -> str:
    """The ``scalars.json`` of a work dir (the newest TIMESTAMP that has one), of a TIMESTAMP
    folder, or the file itself."""
    if osp.isfile(run):
        return run
    if not osp.isdir(run):
        raise LogError(f'{run}: no such file or folder')
    direct = osp.join(run, 'vis_data', 'scalars.json')
    if osp.isfile(direct):
        return direct
    found = sorted(osp.join(run, d, 'vis_data', 'scalars.json') for d in os.listdir(run)
                   if osp.isfile(osp.join(run, d, 'vis_data', 'scalars.json')))
    found = [f for f in found if osp.getsize(f) > 0]
    if not found:
        raise LogError(f'{run}: no TIMESTAMP/vis_data/scalars.json in it (mmengine writes one '
                       f'per training run with a LocalVisBackend)')
    return found[-1]


def run_name(run: str, path: str) -> str:
    """The work dir's name (``WORK/TIMESTAMP/vis_data/scalars.json`` -> ``WORK``)."""
    parts = osp.abspath(path).split(os.sep)
    if len(parts) >= 4 and parts[-2] == 'vis_data':
        return parts[-4]
    return osp.splitext(osp.basename(osp.normpath(run)))[0]


def read_scalars(path: str):
    """The lines of a scalars file as ``(iteration, scalars)`` pairs (see the module docstring
    for the iteration of validation lines)."""
    rows, last_iter = [], 0
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                scalars = json.loads(line)
            except json.JSONDecodeError as e:
                raise LogError(f'{path}, line {lineno}: not JSON ({e.msg}); expected one JSON '
                               f'object per line, as mmengine writes scalars.json') from e
            if not isinstance(scalars, dict):
                raise LogError(f'{path}, line {lineno}: expected a JSON object, got '
                               f'{type(scalars).__name__}')
            if 'iter' in scalars:
                if not isinstance(scalars['iter'], Real):
                    raise LogError(f'{path}, line {lineno}: "iter" is not a number')
                last_iter = scalars['iter']
            rows.append((last_iter, scalars))
    if not rows:
        raise LogError(f'{path}: the file is empty')
    return rows


def resolve_key(key: str, available, path: str):
    """The scalar a key names in one run (exactly, or by its last ``/`` part), or None."""
    if key in available:
        return key
    matches = sorted(k for k in available if k.split('/')[-1] == key)
    if len(matches) > 1:
        raise LogError(f'{path}: key {key!r} is ambiguous: {", ".join(matches)}')
    return matches[0] if matches else None


def curves(runs, keys, legend=None):
    """``{key: [(run name, xs, ys, is_validation), ...]}`` for the runs and keys.

    Raises:
        LogError: A run cannot be read, ``legend`` does not match the runs, or a key is in no run.
    """
    paths = [find_scalars(r) for r in runs]
    if legend is not None and len(legend) != len(runs):
        raise LogError(f'--legend gives {len(legend)} names for {len(runs)} runs')
    names = list(legend) if legend else [run_name(r, p) for r, p in zip(runs, paths)]
    for i, name in enumerate(names):  # the same work dir name twice: number them
        if names.count(name) > 1:
            names[i] = f'{name} ({names[:i].count(name) + 1})'
    data = [read_scalars(p) for p in paths]
    out, notes = {}, []
    for key in keys:
        out[key] = []
        for name, path, rows in zip(names, paths, data):
            available = {k for _, s in rows for k in s if k not in POSITION_KEYS}
            scalar = resolve_key(key, available, path)
            if scalar is None:
                notes.append((key, name, path, available))
                continue
            xs, ys, validation = [], [], False
            for it, s in rows:
                value = s.get(scalar)
                if isinstance(value, Real) and not isinstance(value, bool) and \
                        math.isfinite(value):
                    xs.append(it)
                    ys.append(float(value))
                    validation = validation or 'iter' not in s
            out[key].append((name, xs, ys, validation))
        if not out[key]:
            known = sorted(set().union(*(n[3] for n in notes if n[0] == key)))
            raise LogError(f'no run has the key {key!r}; the runs have: {", ".join(known)}')
    for key, name, path, _ in notes:
        if out.get(key):
            print(f'note: run {name} ({path}) has no {key!r}; left out of that panel')
    return out


def plot_curves(data, out, title=None):
    """One panel per key of :func:`curves`' data, one line per run; saved to ``out``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    keys = list(data)
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.6 * len(keys) + 0.6), sharex=True,
                             squeeze=False)
    colours = {}
    for ax, key in zip(axes[:, 0], keys):
        for name, xs, ys, validation in data[key]:
            colour = colours.setdefault(name, f'C{len(colours) % 10}')
            ax.plot(xs, ys, 'o-' if validation else '-', color=colour, label=name,
                    markersize=4, linewidth=1.2)
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel('iteration')
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
