"""tools/deploy/convert.py then tools/test.py on the converted model, from a float and from a
packed checkpoint; and a briefly trained binary network, converted."""
import importlib.util
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from torch import nn

from conftest import CONFIGS, ROOT, data_root_options, python_tool, run
from mmbnn.deploy import BitPackedModel, convert, pack_model
from mmbnn.models.backbones import GroupNetResNet
from test_convert_bitpacked import randomise

TINY = osp.join(CONFIGS, 'tiny_groupnet_cls.py')
NARROW = ['model.backbone.base_channels=8', 'model.backbone.stem_channels=8',
          'model.head.in_channels=64', 'model.head.num_classes=2']


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f'tool_{name}',
                                                  osp.join(ROOT, 'tools', 'deploy', name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tiny_model():
    """The model as mmengine's Runner builds it: with the config's top-level data
    preprocessor (normalisation, BGR to RGB)."""
    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict({k: int(v) for k, v in (o.split('=') for o in NARROW)})
    init_default_scope('mmpretrain')
    model = ROOT_MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    assert model.data_preprocessor.to_rgb
    return cfg, randomise(model)


@pytest.mark.slow
def test_convert_then_test_tool(tmp_path, tiny_cls_root):
    cfg, model = tiny_model()
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), tmp_path / 'float.pth')
    torch.save(pack_model(model), tmp_path / 'packed.pth')
    tool = load_tool('convert.py')
    out, out_config = tool.main([TINY, str(tmp_path / 'float.pth'), '--out',
                                 str(tmp_path / 'bitpacked.pth'), '--shape', '32', '32',
                                 '--cfg-options', *NARROW])
    assert (out, out_config) == (str(tmp_path / 'bitpacked.pth'), str(tmp_path / 'bitpacked.py'))
    ckpt = torch.load(out, weights_only=True)  # tensors, containers and primitives only
    bitpacked = ckpt['meta']['bitpacked']
    assert ckpt['meta']['epoch'] == 1 and bitpacked['engines'] == ['backbone']
    assert bitpacked['folded'] == [] and bitpacked['unfused'] == []  # BNs folded by the engine
    assert not [k for k in ckpt['state_dict'] if k.endswith('conv1.weight') and 'layer' in k]
    # the packed checkpoint converts to the same state
    tool.main([TINY, str(tmp_path / 'packed.pth'), '--out', str(tmp_path / 'from_packed.pth'),
               '--shape', '32', '32', '--cfg-options', *NARROW])
    from_packed = torch.load(tmp_path / 'from_packed.pth', weights_only=True)['state_dict']
    assert from_packed.keys() == ckpt['state_dict'].keys()
    for k, v in ckpt['state_dict'].items():
        torch.testing.assert_close(from_packed[k], v, rtol=1e-6, atol=1e-7)

    preds_file = tmp_path / 'preds.pkl'
    proc = run(python_tool('test.py', out_config, out, '--work-dir', tmp_path, '--out',
                           preds_file, *data_root_options(tiny_cls_root)))
    assert 'accuracy/top1' in proc.stdout + proc.stderr
    with open(preds_file, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 16
    # the simulated model on the same images, through the same pipeline
    cfg.test_dataloader.dataset.data_root = tiny_cls_root
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    data = pseudo_collate([pipeline(dict(img_path=p['img_path'])) for p in preds])
    with torch.no_grad():
        expected = model.eval().test_step(data)
    for p, e in zip(preds, expected):
        torch.testing.assert_close(p['pred_score'], e.pred_score, rtol=1e-4, atol=1e-5)
        assert p['pred_label'].item() == e.pred_label.item()


def test_wrapper_refuses_another_checkpoint(tmp_path):
    cfg, model = tiny_model()
    converted = BitPackedModel(model, fuse_input_shape=(1, 3, 32, 32))
    torch.save(dict(state_dict=converted.state_dict()), tmp_path / 'ok.pth')
    unfused = BitPackedModel(cfg.model, scope='mmpretrain', fuse_input_shape=None)
    with pytest.raises(RuntimeError, match='not a bit-packed checkpoint of this config'):
        load_checkpoint(unfused, str(tmp_path / 'ok.pth'))
    again = BitPackedModel(cfg.model, scope='mmpretrain', fuse_input_shape=(1, 3, 32, 32))
    load_checkpoint(again, str(tmp_path / 'ok.pth'))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again(x, mode='tensor'), converted(x, mode='tensor'))
    with pytest.raises(RuntimeError, match='inference only'):
        again.train()


class DigitsNet(nn.Module):
    """A ReActNet-style ResNet-18 of width 8 (RSign thresholds, RPReLU, Bi-Real shortcuts) for
    8x8 grey digits."""

    def __init__(self):
        super().__init__()
        self.backbone = GroupNetResNet(
            depth=18, num_bases=1, in_channels=1, stem='cifar', stem_channels=8,
            base_channels=8, downsample='avgpool', order=('norm', 'add', 'act'),
            act_cfg=dict(type='mmbnn.RPReLU'),
            conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='RSign'),
                          weight_binarizer=dict(type='XNORWeight')))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def test_briefly_trained_reactnet_on_digits():
    """Trained for 60 Adam steps on scikit-learn's digits (a few seconds on one thread), then
    converted: the same predictions on the 397 held-out images."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 8 - 1
    y = torch.tensor(digits.target)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = DigitsNet()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        g = torch.Generator().manual_seed(0)
        for _ in range(60):
            idx = torch.randint(0, 1400, (32, ), generator=g)
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        test_x, test_y = x[1400:], y[1400:]
        with torch.no_grad():
            expected = model(test_x)
        assert (expected.argmax(1) == test_y).float().mean() > 0.5  # it learned something
        converted = convert(model, example_inputs=test_x[:1])
        with torch.no_grad():
            got = converted(test_x)
    finally:
        torch.set_num_threads(threads)
    assert converted.backbone.blocks[0].conv1.threshold.abs().sum() > 0  # learned thresholds
    agree = (got.argmax(1) == expected.argmax(1)).float().mean().item()
    close = torch.isclose(got, expected, rtol=1e-3, atol=1e-3).all(1).float().mean().item()
    # The kernels sum integers and fold BN, the simulation sums floats: an activation within
    # rounding of its threshold may flip, and change that image's logits a little.
    assert agree >= 0.995 and close >= 0.98, (agree, close)
    assert np.isfinite(got.numpy()).all()
