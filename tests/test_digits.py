"""DigitsDataset: scikit-learn's digits as an mmpretrain dataset, with a stratified split."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from sklearn.datasets import load_digits

from mmbnn.datasets import DigitsDataset
from mmbnn.registry import DATASETS, build_from_mmbnn


@pytest.fixture(scope='module')
def digits():
    return load_digits()


@pytest.fixture(scope='module')
def parts():
    return DigitsDataset(split='train'), DigitsDataset(split='test')


def indices(ds):
    return [ds.get_data_info(i)['digits_index'] for i in range(len(ds))]


def test_sizes_and_classes(parts):
    train, test = parts
    assert (len(train), len(test)) == (1437, 360)
    assert train.metainfo['classes'] == tuple(str(i) for i in range(10))
    assert train.CLASSES == test.CLASSES


def test_split_is_disjoint_complete_and_stratified(parts, digits):
    train, test = parts
    tr, te = indices(train), indices(test)
    assert not set(tr) & set(te)
    assert sorted(tr + te) == list(range(1797))
    counts = np.bincount(digits.target, minlength=10)
    test_counts = np.bincount([test.get_data_info(i)['gt_label'] for i in range(len(test))],
                              minlength=10)
    # every class keeps its share (20%) in the test part, up to rounding
    assert np.all(np.abs(test_counts - 0.2 * counts) <= 1), (test_counts, counts)


def test_split_is_deterministic_and_seeded(parts):
    train, _ = parts
    assert indices(DigitsDataset(split='train')) == indices(train)
    other = DigitsDataset(split='train', seed=1)
    assert len(other) == len(train) and indices(other) != indices(train)
    assert len(DigitsDataset(split='test', test_ratio=0.5)) == 899


def test_images_are_uint8_hwc_scaled(parts, digits):
    train, _ = parts
    info = train.get_data_info(0)
    img = info['img']
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    expected = np.rint(digits.images[info['digits_index']] * 255 / 16).astype(np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(img[:, :, c], expected)
    assert info['gt_label'] == digits.target[info['digits_index']]
    assert max(train.get_data_info(i)['img'].max() for i in range(50)) == 255


def test_built_from_mmpretrain_config_with_pipeline():
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS as PRETRAIN_DATASETS
    cfg = dict(type='mmbnn.DigitsDataset', split='test',
               pipeline=[dict(type='Resize', scale=(16, 16)), dict(type='PackInputs')])
    ds = PRETRAIN_DATASETS.build(cfg)
    assert isinstance(ds, DigitsDataset) and len(ds) == 360
    out = ds[3]
    assert out['inputs'].shape == (3, 16, 16) and out['inputs'].dtype == torch.uint8
    assert out['data_samples'].gt_label.item() == ds.get_data_info(3)['gt_label']
    # mmbnn's own registry builds it too; indices keeps the first N of the split
    small = build_from_mmbnn(dict(type='DigitsDataset', split='train', indices=10), DATASETS)
    assert len(small) == 10


@pytest.mark.parametrize('kwargs, match', [
    (dict(split='val'), 'split must be one of'),
    (dict(test_ratio=0), 'test_ratio must be in'),
    (dict(test_ratio=1.5), 'test_ratio must be in'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DigitsDataset(**kwargs)
