"""scikit-learn's handwritten digits as an mmpretrain dataset: real data shipped by a package."""
from typing import Tuple

import numpy as np

from mmbnn.registry import DATASETS
from .array_dataset import StratifiedArrayDataset

__all__ = ['DigitsDataset']


@DATASETS.register_module()
class DigitsDataset(StratifiedArrayDataset):
    """The UCI handwritten digits of :func:`sklearn.datasets.load_digits`, split for training.

    1797 grey 8x8 images of the digits 0-9 (about 180 per class), pixel values 0..16. They ship
    inside scikit-learn, so nothing is downloaded. Each data info holds ``img``, an ``8x8x3``
    ``uint8`` array (the grey values scaled to 0..255 and repeated over 3 channels, as a loaded
    RGB image), ``img_shape``, ``ori_shape``, ``gt_label`` and ``digits_index`` (the
    image's index in ``load_digits()``), so that mmpretrain's pipelines
    (``Resize``, ``RandomCrop``, ``PackInputs``...) work on it unchanged.

    The split is stratified (every class keeps its share in both parts) and deterministic: the
    same ``test_ratio`` and ``seed`` give the same split on every machine
    (:func:`sklearn.model_selection.train_test_split` with ``random_state=seed``); the default
    gives 1437 train / 360 test images. The train and test parts are disjoint and together hold
    every image (:class:`~mmbnn.datasets.array_dataset.StratifiedArrayDataset`).

    In a config of mmpretrain (or any toolbox): ``dict(type='mmbnn.DigitsDataset',
    split='train', pipeline=[...])``.

    Args:
        split (str): ``'train'`` or ``'test'``. Default: ``'train'``.
        test_ratio (float): Share of the images in the test part, in (0, 1). Default: 0.2.
        seed (int): Seed of the split. Default: 0.
        pipeline (Sequence): Transforms. Default: none.
        indices (int | Sequence[int], optional): Keep only these samples of the split (an int
            keeps the first ``indices``), as in mmengine's ``BaseDataset``. Default: all.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset` (``metainfo``,
            ``serialize_data``, ``lazy_init``...); ``ann_file`` and ``data_root`` are unused.
    """
    METAINFO = dict(classes=tuple(str(i) for i in range(10)))
    INDEX_KEY = 'digits_index'

    @classmethod
    def load_arrays(cls) -> Tuple[np.ndarray, np.ndarray]:
        """The 1797 images scaled 0..16 -> 0..255 (``uint8``), and their labels."""
        from sklearn.datasets import load_digits
        digits = load_digits()
        images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        return images, digits.target
