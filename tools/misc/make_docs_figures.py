"""Regenerate the figures under docs/ that the README shows, from trained models and results.

    python tools/misc/make_docs_figures.py
        [--det CONFIG CHECKPOINT] [--seg CONFIG CHECKPOINT] [--images N]
        [--digits-json FILE ...] [--detection-json FILE ...] [--segmentation-json FILE ...]
        [--curves RUN ...] [--curve-keys KEY ...] [--out-dir docs] [--device cpu]

Each option given redraws its figure, and nothing else:

- ``--det``: ``docs/demo_detection.png``, the first N (``--images``, default 4) validation scenes
  of the shapes detection set, written by ``tools/dataset_converters/make_shapes_coco.py`` (its
  defaults: 64 x 64, seed 0; the validation scenes do not depend on ``--num-train``), each run
  through the detector exactly as ``demo/image_demo.py IMAGE CONFIG --weights CHECKPOINT
  --vis-scale 4`` runs it (:func:`mmbnn.apis.inference_model`), side by side.
- ``--seg``: ``docs/demo_segmentation.png``, the same with ``make_shapes_seg.py`` (96 x 96).
- ``--digits-json`` / ``--detection-json`` / ``--segmentation-json``: ``docs/tradeoff_*.png``,
  as ``tools/analysis/plot_tradeoff.py FILE ...`` draws them.
- ``--curves``: ``docs/curves.png``, as ``tools/analysis/plot_logs.py RUN ... --keys ...``.

Nothing is downloaded; the scenes are generated in a temporary folder.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile

import numpy as np

from mmbnn.apis import inference_model, init_inferencer
from mmbnn.visualization import collect, curves, plot_curves, plot_tradeoff

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: task -> (converter in tools/dataset_converters/, image size, folder of the val images)
CONVERTERS = {'det': ('make_shapes_coco.py', 64, 'val'),
              'seg': ('make_shapes_seg.py', 96, osp.join('img_dir', 'val'))}
DEMO_SCALE = 4


def shapes_images(task: str, num: int, folder: str):
    """The first ``num`` validation scenes of the shapes set for ``task``, from its converter."""
    script, size, split = CONVERTERS[task]
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'dataset_converters', script),
                    '--out', folder, '--num-train', '1', '--num-val', str(num),
                    '--size', str(size)], check=True, stdout=subprocess.DEVNULL)
    images = sorted(os.listdir(osp.join(folder, split)))
    return [osp.join(folder, split, name) for name in images]


def montage(pictures, gap=8):
    """Pictures side by side on white, top-aligned."""
    height = max(p.shape[0] for p in pictures)
    width = sum(p.shape[1] for p in pictures) + gap * (len(pictures) - 1)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    x = 0
    for p in pictures:
        canvas[:p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + gap
    return canvas


def demo_figure(task, config, checkpoint, out, args):
    import mmcv
    with tempfile.TemporaryDirectory() as tmp:
        images = shapes_images(task, args.images, osp.join(tmp, 'data'))
        inferencer = init_inferencer(config, checkpoint, device=args.device)
        pictures = []
        for image in images:
            result = inference_model(
                inferencer, image, out_dir=osp.join(tmp, 'out'), vis_scale=DEMO_SCALE,
                **(dict(pred_score_thr=args.pred_score_thr) if task == 'det' else {}))
            pictures.append(mmcv.imread(result['vis_file']))
            pred = result['prediction']
            if task == 'det':
                kept = sum(s >= args.pred_score_thr for s in pred['scores'])
                print(f'{osp.basename(image)}: {kept} boxes with score >= '
                      f'{args.pred_score_thr}')
            else:
                print(f'{osp.basename(image)}: pixels per class {pred["pixels_per_class"]}')
        mmcv.imwrite(montage(pictures), out)
    print(f'saved {out}')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Regenerate the README figures under docs/')
    parser.add_argument('--det', nargs=2, metavar=('CONFIG', 'CHECKPOINT'),
                        help='a shapes detector: docs/demo_detection.png')
    parser.add_argument('--seg', nargs=2, metavar=('CONFIG', 'CHECKPOINT'),
                        help='a shapes segmentor: docs/demo_segmentation.png')
    parser.add_argument('--images', type=int, default=4, help='scenes per demo figure')
    parser.add_argument('--pred-score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this (default: 0.3)')
    parser.add_argument('--device', default='cpu', help='default: cpu')
    for task in ('digits', 'detection', 'segmentation'):
        parser.add_argument(f'--{task}-json', nargs='+', metavar='FILE',
                            help=f'benchmark results: docs/tradeoff_{task}.png')
    parser.add_argument('--curves', nargs='+', metavar='RUN',
                        help='work dirs or scalars.json: docs/curves.png')
    parser.add_argument('--curve-keys', nargs='+', default=['loss'],
                        help='scalars for --curves (default: loss)')
    parser.add_argument('--out-dir', default=osp.join(ROOT, 'docs'), help='default: docs/')
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error('--images must be >= 1')
    if not any([args.det, args.seg, args.digits_json, args.detection_json,
                args.segmentation_json, args.curves]):
        parser.error('nothing to draw: give --det, --seg, --*-json or --curves')
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    for task in ('det', 'seg'):
        given = getattr(args, task)
        if given:
            name = 'detection' if task == 'det' else 'segmentation'
            demo_figure(task, *given, osp.join(args.out_dir, f'demo_{name}.png'), args)
    for task in ('digits', 'detection', 'segmentation'):
        files = getattr(args, f'{task}_json')
        if files:
            out = osp.join(args.out_dir, f'tradeoff_{task}.png')
            label, title, points = collect(files)
            plot_tradeoff(points, label, out, title)
            print(f'saved {out} ({len(points)} models)')
    if args.curves:
        out = osp.join(args.out_dir, 'curves.png')
        plot_curves(curves(args.curves, args.curve_keys), out)
        print(f'saved {out}')


if __name__ == '__main__':
    main()
