"""scikit-learn's handwritten digits as an mmpretrain dataset: real data shipped by a package."""
from typing import List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmbnn.registry import DATASETS

__all__ = ['DigitsDataset']


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """The UCI handwritten digits of :func:`sklearn.datasets.load_digits`, split for training.

    1797 grey 8x8 images of the digits 0-9 (about 180 per class), pixel values 0..16. They ship
    inside scikit-learn, so nothing is downloaded. Each data info holds ``img``, an ``8x8x3``
    ``uint8`` array (the grey values scaled to 0..255 and repeated over 3 channels, as a loaded
    RGB image), ``img_shape``, ``ori_shape``, ``gt_label`` and ``digits_index`` (the
    image's index in ``load_digits()``), so that mmpretrain's pipelines
    (``Resize``, ``RandomCrop``, ``PackInputs``...) work on it unchanged.

    The split is stratified (every class keeps its share in both parts) and deterministic: the
    same ``test_ratio`` and ``seed`` give the same split on every machine
    (:func:`sklearn.model_selection.train_test_split` with ``random_state=seed``). The train and
    test parts are disjoint and together hold every image.

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
    SPLITS = ('train', 'test')

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

    @staticmethod
    def split_indices(test_ratio: float = 0.2, seed: int = 0, labels: Optional[np.ndarray] = None):
        """``(train_idx, test_idx)``: sorted indices into ``load_digits()`` of the two parts."""
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        if labels is None:
            labels = load_digits().target
        idx = np.arange(len(labels))
        train_idx, test_idx = train_test_split(idx, test_size=test_ratio, random_state=seed,
                                               shuffle=True, stratify=labels)
        return np.sort(train_idx), np.sort(test_idx)

    def load_data_list(self) -> List[dict]:
        from sklearn.datasets import load_digits
        digits = load_digits()
        train_idx, test_idx = self.split_indices(self.test_ratio, self.seed, digits.target)
        chosen = train_idx if self.split == 'train' else test_idx
        # 0..16 -> 0..255, grey repeated over 3 channels (HxWx3 uint8, as a loaded image).
        images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        data_list = []
        for i in chosen:
            img = np.ascontiguousarray(np.repeat(images[i][:, :, None], 3, axis=2))
            data_list.append(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                                  gt_label=int(digits.target[i]), digits_index=int(i)))
        return data_list

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split}', f'Test ratio: \t{self.test_ratio}',
                f'Split seed: \t{self.seed}']
