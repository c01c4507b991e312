"""MeliusNet22 (mmbnn.MeliusNet) as larq-zoo builds it: larq-zoo's parameters, size and MACs, the
dense / improvement structure against an independent formula, the grouped stem, conversion to
the bit-packed kernels, and the configs."""
import pytest
import torch
from torch import nn

from arch_checks import (build_config_model, converted_matches, counts_at_224, load_config,
                         randomise_bn, runner_iterations, train_step)
from mmbnn.layers import BinaryConv2d
from mmbnn.models.backbones import MeliusNet
from mmbnn.models.backbones.meliusnet import ImprovementLayer, MeliusBlock


def test_counts_match_larq_zoo():
    """larq-zoo's MeliusNet22: 6,944,584 parameters and 3.88 MB (its docstring, larq >= 0.10's
    convention: BN counts its two folded vectors), 4.76 G MACs, 97.1 % binary (docs)."""
    _, model = build_config_model('meliusnet/meliusnet22_4xb16_in1k.py')
    _, counts = counts_at_224(model)
    larq = counts['larq']
    assert larq.params == pytest.approx(6_944_584, rel=0.005)
    assert larq.params == 6_944_584  # in fact exact
    assert larq.size_mb == pytest.approx(3.88, rel=0.02) and round(larq.size_mb, 2) == 3.88
    assert larq.macs == pytest.approx(4.76e9, rel=0.02)
    assert round(100 * larq.binary_mac_share, 1) == 97.1
    # with every BN variable counted (Keras' count_params) it would be 25,088 more
    assert counts['keras'].params - larq.params == counts['keras'].bn_values - larq.bn_values


def test_improvement_layer_adds_to_the_last_channels():
    torch.manual_seed(0)
    layer = ImprovementLayer(10, 4, dict(type='mmbnn.BinaryConv2d'), dict(type='BN')).eval()
    x = torch.randn(2, 10, 5, 5)
    y = layer(x)
    w = layer.conv(layer.norm(x))
    assert torch.equal(y[:, :6], x[:, :6])
    torch.testing.assert_close(y[:, 6:], x[:, 6:] + w)
    with pytest.raises(ValueError, match='adds 12 channels'):
        ImprovementLayer(10, 12, dict(type='mmbnn.BinaryConv2d'), dict(type='BN'))


def test_structure():
    m = MeliusNet(out_indices=(0, 1, 2, 3))
    outs = m(torch.randn(1, 3, 64, 64))
    # each stage adds 64 per block, then its transition sets the width; sizes /2 per transition
    assert [o.shape[1] for o in outs] == [160, 224, 256, 256 + 4 * 64]
    assert [o.shape[-1] for o in outs] == [8, 4, 2, 2]
    blocks = [b for s in m.stages for b in s if isinstance(b, MeliusBlock)]
    assert len(blocks) == 4 + 5 + 4 + 4
    convs = [c for c in m.modules() if isinstance(c, BinaryConv2d)]
    assert len(convs) == 2 * 17 and all(c.out_channels == 64 for c in convs)
    assert all(c.act_binarizer.clip_value == 1.3 and c.weight_binarizer.clamp == 1.3
               for c in convs)
    groups = [c.groups for c in m.stem if isinstance(c, nn.Conv2d)]
    assert groups == [1, 4, 8] and m.stem[0].stride == (2, 2)
    small = MeliusNet(stem='cifar', stem_channels=16, growth_rate=16,
                      arch=dict(num_blocks=(1, 1), transition_channels=(24, None)),
                      out_indices=(-1, ))
    assert small(torch.randn(1, 3, 8, 8))[0].shape == (1, 24 + 16, 4, 4)


def test_freezing_and_norm_eval():
    m = MeliusNet(frozen_stages=0, norm_eval=True)
    m.train()
    assert not any(p.requires_grad for p in m.stem.parameters())
    assert all(p.requires_grad for p in m.stages.parameters())
    assert not any(b.training for b in m.modules() if isinstance(b, nn.BatchNorm2d))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(arch='29'), KeyError, 'arch'),
    (dict(arch=dict(num_blocks=(1, 1), transition_channels=(8, 8))), ValueError, 'None for'),
    (dict(stem_groups=(3, 8)), ValueError, 'stem_groups'),
    (dict(stem='deep'), ValueError, 'stem'),
    (dict(growth_rate=-1), ValueError, 'growth_rate'),
    (dict(out_indices=(-5, )), IndexError, 'out_indices'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MeliusNet(**kwargs)


@pytest.mark.parametrize('name', ['digits/meliusnet22-w16_1xb64_digits.py',
                                  'mnist/meliusnet22-w16_1xb64_mnist5k.py'])
def test_small_configs_train_a_step(name):
    cfg, model = train_step(name)
    assert model.backbone.feat_dim == cfg.model.head.in_channels == 128


def test_mnist_config_runs_a_few_iterations(tmp_path):
    runner_iterations('mnist/meliusnet22-w16_1xb64_mnist5k.py', tmp_path, subset=64)


@pytest.mark.parametrize('size', [8, 11])
def test_converts_to_the_kernels(size):
    """Every binary conv runs on the kernels (odd sizes: ceil-mode pooling); logits equal the
    float simulation's."""
    torch.manual_seed(0)
    _, model = build_config_model('digits/meliusnet22-w16_1xb64_digits.py')
    randomise_bn(model)
    converted_matches(model, torch.randn(2, 3, size, size))


def test_config_names_the_authors_recipe():
    cfg = load_config('meliusnet/meliusnet22_4xb16_in1k.py')
    assert cfg.optim_wrapper.optimizer.type == 'RAdam' and cfg.optim_wrapper.optimizer.lr == 2e-3
    assert cfg.param_scheduler.type == 'CosineAnnealingLR' and cfg.train_cfg.max_epochs == 120
    assert cfg.custom_hooks == [dict(type='mmbnn.LatentClampHook')]
