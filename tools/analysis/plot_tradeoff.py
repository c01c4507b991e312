"""Accuracy against cost: one point per model, against OPs and against model size.

    python tools/analysis/plot_tradeoff.py RESULTS.json [RESULTS.json ...]
        [--metric KEY] [--models NAME ...] [--title TEXT] [--out FILE.png|.svg|.pdf]

Reads the JSON that the comparison benchmarks write with ``--json`` (the experiment harness's
``mmbnn.experiment/1`` format, or ``compare_digits.py``'s earlier ``{"results": [...]}``) and
draws the metric against OPs (BOPs / 64 + FLOPs) and against the model size, each model one
point at its mean over the seeds with its name, the spread over the seeds as an error bar
(:mod:`mmbnn.visualization.tradeoff` says more). Several files are merged (one per seed, say).

``--metric`` picks another metric of the runs: a key of each run's ``metrics`` (harness format,
e.g. ``coco/bbox_mAP_50``) or of each row (earlier format). An empty file, a file that is not
JSON, or a run that lacks the name, the metric, ``ops`` or ``size_kb`` is refused with a message
naming the file, the run and the missing key. Drawn with matplotlib's Agg backend (no display).
"""
import argparse
import os.path as osp

from mmbnn.visualization.tradeoff import LEGACY_METRICS, ResultsError, collect, plot_tradeoff

EXTENSIONS = ('.png', '.svg', '.pdf')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Plot accuracy against OPs and model size')
    parser.add_argument('results', nargs='+', help='JSON files written by the benchmarks\' --json')
    parser.add_argument('--metric', help='another metric of the runs (default: the '
                        'experiment\'s; for the earlier format the first of '
                        f'{", ".join(LEGACY_METRICS)})')
    parser.add_argument('--models', nargs='+', metavar='NAME',
                        help='plot only these models (by name), in this order')
    parser.add_argument('--title', help='title (default: the experiment\'s)')
    parser.add_argument('--out', default='tradeoff.png',
                        help='output image, .png, .svg or .pdf (default: tradeoff.png)')
    args = parser.parse_args(argv)
    if not args.out.lower().endswith(EXTENSIONS):
        parser.error(f'--out must end with {", ".join(EXTENSIONS)}: got {args.out!r}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        label, title, points = collect(args.results, args.metric, args.models)
    except ResultsError as e:
        raise SystemExit(f'plot_tradeoff: {e}') from e
    plot_tradeoff(points, label, args.out, args.title or title)
    width = max(len(p['name']) for p in points)
    values = [f'{p["mean"]:.3f}' + (f' ± {p["std"]:.3f}' if len(p['values']) > 1 else '')
              for p in points]
    vwidth = max(len(label), *map(len, values))
    print(f'{"model":<{width}}  {label:>{vwidth}}  {"OPs (M)":>9}  {"size (kB)":>9}  seeds')
    for p, value in zip(points, values):
        print(f'{p["name"]:<{width}}  {value:>{vwidth}}  {p["ops"] / 1e6:>9.2f}  '
              f'{p["size_kb"]:>9.1f}  {len(p["values"])}')
    print(f'saved {osp.abspath(args.out)}')
    return points


if __name__ == '__main__':
    main()
