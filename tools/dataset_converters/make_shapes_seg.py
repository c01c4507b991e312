"""Write a synthetic segmentation dataset of shapes in MMSegmentation's folder layout.

    python tools/dataset_converters/make_shapes_seg.py --out data/shapes_seg \
        [--num-train 600] [--num-val 200] [--size 96] [--max-objects 4] [--seed 0]

Writes ``OUT/img_dir/{train,val}/NNNNN.png`` (RGB scenes of circles, squares and triangles on a
noisy background, :func:`mmbnn.datasets.shapes.render_scene`) and ``OUT/ann_dir/{train,val}/
NNNNN.png`` (uint8 label maps: 0 background, 1 circle, 2 square, 3 triangle; every visible pixel
of a shape is labelled). Deterministic: the same arguments write the same files on every machine,
and the validation images do not depend on ``--num-train``. Nothing is downloaded. Read it with
``mmbnn.ShapesSegDataset``.
"""
import argparse
import importlib.util
import os
import os.path as osp

import numpy as np
from PIL import Image

SPLITS = ('train', 'val')


def _load_shapes():
    """``mmbnn/datasets/shapes.py`` on its own: it needs only numpy, while importing the mmbnn
    package loads torch and mmengine (seconds on a busy machine). Found beside this tool in a
    source tree (through the ``.mim`` link of an editable install too), else in the installed
    package (located without importing it)."""
    path = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.realpath(__file__)))), 'mmbnn',
                    'datasets', 'shapes.py')
    if not osp.isfile(path):
        package = importlib.util.find_spec('mmbnn').submodule_search_locations[0]
        path = osp.join(package, 'datasets', 'shapes.py')
    spec = importlib.util.spec_from_file_location('mmbnn_shapes', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_shapes = _load_shapes()
SHAPE_CLASSES, render_scene = _shapes.SHAPE_CLASSES, _shapes.render_scene


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', required=True, help='data root to write')
    parser.add_argument('--num-train', type=int, default=600, help='training images')
    parser.add_argument('--num-val', type=int, default=200, help='validation images')
    parser.add_argument('--size', type=int, default=96, help='image side in pixels')
    parser.add_argument('--max-objects', type=int, default=4, help='shapes per image, at most')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    args = parser.parse_args(argv)
    for name in ('num_train', 'num_val'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.size < 32:
        parser.error('--size must be >= 32 (shapes have a radius of at least 8 pixels)')
    if args.max_objects < 1:
        parser.error('--max-objects must be >= 1')
    return args


def label_map(objects, size: int) -> np.ndarray:
    """0 = background, 1 + label of :data:`SHAPE_CLASSES` where a shape is visible."""
    seg = np.zeros((size, size), dtype=np.uint8)
    for obj in objects:
        seg[obj['mask']] = obj['label'] + 1
    return seg


def make_split(out: str, split: str, num: int, size: int, max_objects: int, seed: int):
    """Write one split; return the pixel count of each class."""
    img_dir, ann_dir = osp.join(out, 'img_dir', split), osp.join(out, 'ann_dir', split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    counts = np.zeros(len(SHAPE_CLASSES) + 1, dtype=np.int64)
    for i in range(num):
        # min_visible=1: every visible pixel of every shape is labelled, however small.
        image, objects = render_scene(rng, size=size, max_objects=max_objects, min_visible=1)
        seg = label_map(objects, size)
        counts += np.bincount(seg.ravel(), minlength=counts.size)
        Image.fromarray(image).save(osp.join(img_dir, f'{i:05d}.png'))
        Image.fromarray(seg).save(osp.join(ann_dir, f'{i:05d}.png'))
    return counts


def main(argv=None):
    args = parse_args(argv)
    classes = ('background', ) + SHAPE_CLASSES
    for split, num in zip(SPLITS, (args.num_train, args.num_val)):
        counts = make_split(args.out, split, num, args.size, args.max_objects, args.seed)
        shares = ', '.join(f'{c} {100 * n / counts.sum():.1f}%' for c, n in zip(classes, counts))
        print(f'{split}: {num} images of {args.size}x{args.size} in {args.out} '
              f'(pixels: {shares})')


if __name__ == '__main__':
    main()
