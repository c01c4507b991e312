"""Deterministic synthetic scenes of coloured shapes, with boxes and masks.

The detection and segmentation quick starts train on these, so that they run on a fresh machine
with no download: ``tools/dataset_converters/make_shapes_coco.py`` writes them in COCO format,
``tools/dataset_converters/make_shapes_seg.py`` in MMSegmentation's folder layout.
"""
from typing import Dict, List, Optional, Tuple

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


def _draw_clutter(rng: np.random.Generator, image: np.ndarray, size: int) -> None:
    """One distractor, in place: a thick line, a ring or a cross, in a colour of the objects'
    range. None of them is a circle, a square or a triangle, and none is labelled."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    kind = int(rng.integers(3))
    cx, cy = rng.uniform(0, size, size=2)
    length = float(rng.uniform(size / 8, size / 2))
    width = float(rng.uniform(1.0, 2.5))
    if kind == 0:  # a line segment
        theta = float(rng.uniform(0, np.pi))
        dx, dy = np.cos(theta), np.sin(theta)
        along = (xx - cx) * dx + (yy - cy) * dy
        across = -(xx - cx) * dy + (yy - cy) * dx
        mask = (np.abs(along) <= length / 2) & (np.abs(across) <= width)
    elif kind == 1:  # a ring
        d = np.sqrt((xx - cx)**2 + (yy - cy)**2)
        mask = np.abs(d - length / 3) <= width
    else:  # a cross
        arm = length / 3
        mask = (((np.abs(xx - cx) <= arm) & (np.abs(yy - cy) <= width)) |
                ((np.abs(yy - cy) <= arm) & (np.abs(xx - cx) <= width)))
    image[mask] = rng.integers(120, 256, size=3)


def render_scene(rng: np.random.Generator, size: int = 128, max_objects: int = 4,
                 min_radius: float = 8, min_visible: int = 40, max_radius: Optional[float] = None,
                 log_radius: bool = False, clutter: int = 0) -> Tuple[np.ndarray, List[Dict]]:
    """Draw 1..max_objects shapes of random class, colour, place and size on a noisy background.

    A shape of half-side (radius) ``r`` spans ``2 r`` pixels. With the defaults ``r`` is uniform
    in ``[min_radius, size / 5]``. The multi-scale setting of the detection benchmark sets
    ``max_radius`` and ``log_radius=True`` (``r`` log-uniform, so that as many objects fall into
    each octave of sizes, i.e. each FCOS pyramid level) and ``clutter``: that many distractors
    (lines, rings, crosses in the objects' colours, unlabelled) drawn on the background before
    the shapes. With ``clutter=0`` and ``log_radius=False`` the random draws, and so the scenes,
    are those of earlier versions.

    Returns:
        (image, objects): an RGB uint8 image (size, size, 3) and, for every shape still visible
        (at least ``min_visible`` pixels after later shapes cover it), a dict with ``label``
        (index into :data:`SHAPE_CLASSES`), ``mask`` (bool, visible pixels) and ``bbox``
        ``[x, y, w, h]`` of the visible pixels, in pixels.
    """
    if max_radius is None:
        max_radius = size / 5
    elif not 0 < min_radius <= max_radius < size / 2:
        raise ValueError(f'need 0 < min_radius <= max_radius < size / 2, got min_radius='
                         f'{min_radius}, max_radius={max_radius}, size={size}')
    if log_radius and not 0 < min_radius <= max_radius:
        raise ValueError(f'log_radius needs 0 < min_radius <= max_radius, got {min_radius}, '
                         f'{max_radius}')
    base = rng.integers(0, 90, size=3)
    image = np.clip(base + rng.normal(0, 12, size=(size, size, 3)), 0, 255)
    for _ in range(clutter):
        _draw_clutter(rng, image, size)
    owner = np.full((size, size), -1, dtype=np.int64)
    labels = []
    for i in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(len(SHAPE_CLASSES)))
        if log_radius:
            r = float(np.exp(rng.uniform(np.log(min_radius), np.log(max_radius))))
        else:
            r = float(rng.uniform(min_radius, max_radius))
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
