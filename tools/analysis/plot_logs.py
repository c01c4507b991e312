"""Training curves from mmengine's ``vis_data/scalars.json``: several runs, several keys.

    python tools/analysis/plot_logs.py RUN [RUN ...] [--keys loss bbox_mAP ...]
        [--legend NAME ...] [--title TEXT] [--out FILE.png|.svg|.pdf]

Like mmdet's ``tools/analysis_tools/analyze_logs.py plot_curve``, for the scalars file that
mmengine's ``LocalVisBackend`` writes. A RUN is a work dir (its newest ``TIMESTAMP/vis_data/
scalars.json`` is read), a ``TIMESTAMP`` folder, or a ``scalars.json`` file. Each key gets one
panel with one line per run, named by the run's work dir (or ``--legend``), so stage 1 and
stage 2, or a binary model and its full-precision reference, are seen side by side, against the
training iteration (validation metrics at the iteration they follow:
:mod:`mmbnn.visualization.curves`). A key names a scalar exactly or by its last part
(``bbox_mAP`` finds ``coco/bbox_mAP``); an ambiguous or unknown key is refused with the keys the
runs have. A run that lacks a key another run has is left out of that panel, with a note.
Drawn with matplotlib's Agg backend (no display).
"""
import argparse
import os.path as osp

from mmbnn.visualization.curves import LogError, curves, plot_curves

EXTENSIONS = ('.png', '.svg', '.pdf')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Plot training curves from scalars.json')
    parser.add_argument('runs', nargs='+', help='work dirs, TIMESTAMP folders or scalars.json')
    parser.add_argument('--keys', nargs='+', default=['loss'],
                        help='scalars to plot, one panel each (default: loss)')
    parser.add_argument('--legend', nargs='+', help='a name per run (default: the work dirs)')
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--out', default='curves.png',
                        help='output image, .png, .svg or .pdf (default: curves.png)')
    args = parser.parse_args(argv)
    if not args.out.lower().endswith(EXTENSIONS):
        parser.error(f'--out must end with {", ".join(EXTENSIONS)}: got {args.out!r}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        data = curves(args.runs, args.keys, args.legend)
    except (LogError, OSError) as e:
        raise SystemExit(f'plot_logs: {e}') from e
    plot_curves(data, args.out, args.title)
    for key, lines in data.items():
        for name, xs, ys, _ in lines:
            last = f'{ys[-1]:.4g} at iteration {xs[-1]}' if ys else 'no values'
            print(f'{key:<16} {name}: {len(ys)} points, last {last}')
    print(f'saved {osp.abspath(args.out)}')
    return data


if __name__ == '__main__':
    main()
