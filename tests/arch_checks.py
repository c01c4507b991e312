"""Checks shared by the architecture tests (tests/test_arch_*.py): the ImageNet classifier of a
backbone, larq-convention counts, a config's model training a step, conversion to the bit-packed
kernels, a few training iterations of a config, and a few iterations through the Runner."""
import os.path as osp
import warnings

import torch
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from torch import nn

from conftest import ROOT
from mmbnn.analysis import larq_counts, summarize
from mmbnn.deploy import convert
from mmbnn.deploy.convert import simulated_layers

CONFIGS = osp.join(ROOT, 'configs')


class Classifier(nn.Module):
    """``backbone -> global average pooling -> real FC`` (larq-zoo's top); ``fc=False`` for a
    backbone that ends with its own classifier (BinaryAlexNet)."""

    def __init__(self, backbone: nn.Module, num_classes: int = 1000, fc: bool = True):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.feat_dim, num_classes) if fc else None

    def forward(self, x):
        y = self.backbone(x)[-1]
        return y if self.fc is None else self.fc(y.mean((2, 3)))


def counts_at_224(model: nn.Module, conventions=('larq', 'keras')):
    """``(summary, {convention: LarqCounts})`` at 224 x 224."""
    s = summarize(model, (3, 224, 224))
    return s, {c: larq_counts(model, s, convention=c) for c in conventions}


def load_config(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIGS, name))


def build_config_model(name: str):
    cfg = load_config(name)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = ROOT_MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


def train_step(name: str):
    """Build ``name``'s model, run one loss + backward at the config's image size; every trainable
    backbone parameter is reached by the backward pass. Returns the config and the model."""
    from mmpretrain.structures import DataSample
    cfg, model = build_config_model(name)
    size = cfg.get('img_size', 224)
    model.train()
    n = 2
    samples = [DataSample().set_gt_label(i % 10) for i in range(n)]
    losses = model(torch.randn(n, 3, size, size), samples, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss), name
    loss.backward()
    grads = [(n, p.grad) for n, p in model.backbone.named_parameters() if p.requires_grad]
    missing = [n for n, g in grads if g is None]
    assert not missing, f'{name}: no gradient for {missing}'
    assert sum(float(g.abs().sum()) for _, g in grads) > 0
    return cfg, model


def randomise_bn(model: nn.Module, seed: int = 0) -> None:
    """BN statistics away from (0, 1), so that folding them is tested."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            if m.bias is not None:
                m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)


def converted_matches(model: nn.Module, x: torch.Tensor, simulated=()):
    """Convert ``model`` (eval) and check: the layers left simulated are exactly ``simulated``
    (names), the output equals the float simulation's (same class, values within float
    rounding). Returns the converted model."""
    model.eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        converted = convert(model, example_inputs=x)
    assert sorted(n for n, _, _ in simulated_layers(converted)) == sorted(simulated)
    assert len([w for w in caught if 'stay simulated' in str(w.message)]) == bool(simulated)
    with torch.no_grad():
        ref, out = model(x), converted(x)
    ref = ref[-1] if isinstance(ref, tuple) else ref
    out = out[-1] if isinstance(out, tuple) else out
    assert torch.equal(ref.argmax(1), out.argmax(1))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    return converted


def train_iterations(name: str, iters: int = 2, batch: int = 2):
    """``iters`` training iterations of config ``name``'s model with the config's own optimizer
    wrapper and hooks' weight clamp, on random images of the config's size: finite losses, and
    the parameters move. (The data sets have their own tests.)"""
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.structures import DataSample

    from mmbnn.engine.latent_clamp_hook import clamp_latent_weights
    cfg, model = build_config_model(name)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    clamp = any(h['type'] == 'mmbnn.LatentClampHook' for h in cfg.get('custom_hooks', []))
    size = cfg.get('img_size', 224)
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    for _ in range(iters):
        samples = [DataSample().set_gt_label(i % 10) for i in range(batch)]
        losses = model(torch.randn(batch, 3, size, size), samples, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        assert torch.isfinite(loss), name
        wrapper.update_params(loss)
        if clamp:
            clamp_latent_weights(model)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    return cfg, model


def runner_iterations(name: str, tmp_path, subset: int = 32, val_subset: int = 40):
    """A few iterations of config ``name`` through the Runner (one epoch of the first ``subset``
    training images, then the evaluation of ``val_subset`` test images); returns the run."""
    from mmbnn.analysis.experiment import Experiment, Row
    exp = Experiment(title='check', rows=[Row('m', name, 'm')], metric='accuracy/top1',
                     metric_name='top-1')
    run = exp.run_one('m', 0, str(tmp_path), keep_checkpoint=False, epochs=1, subset=subset,
                      cfg_options={'val_dataloader.dataset.indices': val_subset,
                                   'test_dataloader.dataset.indices': val_subset})
    assert 0 <= run['value'] <= 100
    assert (run['train_samples'], run['eval_samples']) == (subset, val_subset)
    return run
