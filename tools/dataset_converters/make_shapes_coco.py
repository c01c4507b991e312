"""Write the synthetic shapes scenes as a COCO-format detection dataset (no download needed).

    python tools/dataset_converters/make_shapes_coco.py --out data/shapes_coco
        [--num-train 400] [--num-val 100] [--size 64] [--max-objects 4] [--seed 0]
        [--min-radius 8] [--max-radius R] [--log-radius] [--clutter N]

The defaults give the quick start's scenes: objects of radius 8 to SIZE / 5 (16-26 pixels at
64x64), all in FCOS's first pyramid level. The detection benchmark's multi-scale setting is
``--size 128 --max-objects 6 --min-radius 6 --max-radius 48 --log-radius --clutter 4``: objects
of 12-96 pixels, log-uniform, so that they spread over the levels P3-P5, among 4 unlabelled
distractors (lines, rings, crosses) per image (:func:`mmbnn.datasets.shapes.render_scene`).

Layout (what ``configs/quickstart/fcos_groupnet-r18_shapes.py`` reads)::

    OUT/train/000000.png ...            RGB PNG images, SIZE x SIZE
    OUT/val/000000.png ...
    OUT/annotations/instances_train.json
    OUT/annotations/instances_val.json

Each annotation file holds ``images`` (id, file_name, width, height), ``annotations`` (id,
image_id, category_id, bbox [x, y, w, h] of the visible pixels, area = visible pixel count,
iscrowd 0) and ``categories`` (ids 1..3 named after :data:`mmbnn.datasets.shapes.SHAPE_CLASSES`).
The output is deterministic: the same arguments write the same bytes on every machine (the
train and val splits draw from independent generators seeded with ``(seed, split)``).
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict

import numpy as np
from PIL import Image

from mmbnn.datasets.shapes import SHAPE_CLASSES, render_scene

SPLITS = {'train': 0, 'val': 1}


def make_split(out: str, split: str, num_images: int, size: int, max_objects: int,
               seed: int, **scene) -> Dict:
    """Render ``num_images`` scenes of one split under ``out/split`` and return its COCO dict;
    ``scene``: more arguments of :func:`~mmbnn.datasets.shapes.render_scene`."""
    rng = np.random.default_rng([seed, SPLITS[split]])
    img_dir = osp.join(out, split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for i in range(num_images):
        image, objects = render_scene(rng, size=size, max_objects=max_objects, **scene)
        file_name = f'{i:06d}.png'
        Image.fromarray(image).save(osp.join(img_dir, file_name))
        images.append(dict(id=i + 1, file_name=file_name, width=size, height=size))
        for obj in objects:
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i + 1, category_id=obj['label'] + 1,
                bbox=[round(v, 2) for v in obj['bbox']], area=float(obj['mask'].sum()),
                iscrowd=0))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(SHAPE_CLASSES)]
    return dict(info=dict(description=f'mmbnn synthetic shapes ({split}), seed {seed}'),
                images=images, annotations=annotations, categories=categories)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Write the synthetic shapes as COCO detection')
    parser.add_argument('--out', required=True, help='output folder (the data root)')
    parser.add_argument('--num-train', type=int, default=400, help='train images')
    parser.add_argument('--num-val', type=int, default=100, help='val images')
    parser.add_argument('--size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--max-objects', type=int, default=4, help='shapes per image, at most')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--min-radius', type=float, default=8,
                        help='smallest half-side of a shape, pixels')
    parser.add_argument('--max-radius', type=float, default=None,
                        help='largest half-side of a shape, pixels (default: SIZE / 5)')
    parser.add_argument('--log-radius', action='store_true',
                        help='draw the radius log-uniformly (as many objects per octave of size)')
    parser.add_argument('--clutter', type=int, default=0,
                        help='unlabelled distractors (lines, rings, crosses) per image')
    args = parser.parse_args(argv)
    for name in ('num_train', 'num_val'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.size < 40:  # shapes have radii from 8 to size / 5 pixels
        parser.error('--size must be >= 40')
    if args.max_objects < 1:
        parser.error('--max-objects must be >= 1')
    max_radius = args.size / 5 if args.max_radius is None else args.max_radius
    if not 0 < args.min_radius <= max_radius < args.size / 2:
        parser.error(f'need 0 < --min-radius <= --max-radius < SIZE / 2, got {args.min_radius}, '
                     f'{max_radius}, {args.size}')
    if args.clutter < 0:
        parser.error('--clutter must be >= 0')
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(osp.join(args.out, 'annotations'), exist_ok=True)
    for split, num in (('train', args.num_train), ('val', args.num_val)):
        coco = make_split(args.out, split, num, args.size, args.max_objects, args.seed,
                          min_radius=args.min_radius, max_radius=args.max_radius,
                          log_radius=args.log_radius, clutter=args.clutter)
        ann_file = osp.join(args.out, 'annotations', f'instances_{split}.json')
        with open(ann_file, 'w') as f:
            json.dump(coco, f)
        print(f'{split}: {len(coco["images"])} images, {len(coco["annotations"])} boxes '
              f'-> {ann_file}')


if __name__ == '__main__':
    main()
