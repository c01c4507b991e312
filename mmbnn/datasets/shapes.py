"""Deterministic synthetic scenes of coloured shapes, with boxes and masks.

The detection and segmentation quick starts train on these, so that they run on a fresh machine
with no download: ``tools/dataset_converters/make_shapes_coco.py`` writes them in COCO format,
``tools/dataset_converters/make_shapes_seg.py`` in MMSegmentation's folder layout.
"""
from typing import Dict, List, Tuple

import numpy as np

__all__ = ['SHAPE_CLASSES', 'render_scene']

SHAPE_CLASSES = ('circle', 'square', 'triangle')


def _shape_mask(kind: str, size: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    if kind == 'circle':
        return (xx - cx)**2 + (yy - cy)**2 <= r**2
    if kind == 'square':
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    # an upward isosceles triangle inscribed in the square of half-side r
    top, bottom = cy - r, cy + r
    half_width = (yy - top) / (2 * r) * r
    return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half_width)


def render_scene(rng: np.random.Generator, size: int = 128, max_objects: int = 4,
                 min_radius: int = 8, min_visible: int = 40
                 ) -> Tuple[np.ndarray, List[Dict]]:
    """Draw 1..max_objects shapes of random class, colour, place and size on a noisy background.

    Returns:
        (image, objects): an RGB uint8 image (size, size, 3) and, for every shape still visible
        (at least ``min_visible`` pixels after later shapes cover it), a dict with ``label``
        (index into :data:`SHAPE_CLASSES`), ``mask`` (bool, visible pixels) and ``bbox``
        ``[x, y, w, h]`` of the visible pixels, in pixels.
    """
    base = rng.integers(0, 90, size=3)
    image = np.clip(base + rng.normal(0, 12, size=(size, size, 3)), 0, 255)
    owner = np.full((size, size), -1, dtype=np.int64)
    labels = []
    for i in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(len(SHAPE_CLASSES)))
        r = float(rng.uniform(min_radius, size / 5))
        cx, cy = rng.uniform(r, size - r, size=2)
        mask = _shape_mask(SHAPE_CLASSES[label], size, cx, cy, r)
        image[mask] = rng.integers(120, 256, size=3)
        owner[mask] = i
        labels.append(label)
    objects = []
    for i, label in enumerate(labels):
        mask = owner == i
        if mask.sum() < min_visible:
            continue
        ys, xs = np.nonzero(mask)
        x0, y0 = xs.min(), ys.min()
        objects.append(dict(label=label, mask=mask,
                            bbox=[float(x0), float(y0), float(xs.max() + 1 - x0),
                                  float(ys.max() + 1 - y0)]))
    return image.astype(np.uint8), objects
