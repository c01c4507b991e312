"""BinaryDenseNet 28 / 37 / 37-dilated / 45 (mmbnn.BinaryDenseNet) as larq-zoo builds them:
larq-zoo's parameters, sizes and MACs, the dense and transition structure, conversion to the
bit-packed kernels, and the configs."""
import pytest
import torch
from torch import nn

from arch_checks import (Classifier, build_config_model, converted_matches, counts_at_224,
                         load_config, randomise_bn, runner_iterations, train_step)
from mmbnn.layers import BinaryConv2d
from mmbnn.models.backbones import BinaryDenseNet
from mmbnn.models.backbones.binary_densenet import DenseLayer, DenseTransition

# larq-zoo: parameters (docstrings, BN's four vectors counted), size in MB (docstrings with the
# same convention / the docs' zoo table with larq >= 0.10's two BN values), MACs (docs)
LARQ_ZOO = {
    '28': ('binary-densenet28_8xb32_in1k.py', 5_150_504, 4.12, 4.04, 3.79e9),
    '37': ('binary-densenet37_8xb24_in1k.py', 8_734_120, 5.25, 5.13, 4.71e9),
    '37-dilated': ('binary-densenet37-dilated_8xb32_in1k.py', 8_734_120, 5.25, 5.13, 8.23e9),
    '45': ('binary-densenet45_8xb48_in1k.py', 13_939_240, 7.54, 7.35, 6.67e9),
}


@pytest.mark.parametrize('arch', sorted(LARQ_ZOO))
def test_counts_match_larq_zoo(arch):
    config, params, size_keras, size_larq, macs = LARQ_ZOO[arch]
    _, model = build_config_model(f'binary_densenet/{config}')
    assert model.backbone.arch == BinaryDenseNet.arch_settings[arch]
    _, counts = counts_at_224(model)
    keras, larq = counts['keras'], counts['larq']
    assert keras.params == pytest.approx(params, rel=0.005)
    assert keras.params == params  # in fact exact
    assert round(keras.size_mb, 2) == pytest.approx(size_keras, abs=0.011)
    assert larq.size_mb == pytest.approx(size_larq, rel=0.02)
    assert larq.macs == pytest.approx(macs, rel=0.02)
    assert round(larq.macs / 1e9, 2) == macs / 1e9


def independent_widths(layers, reduction, growth=64, stem=64, divisor=32):
    """Channel widths after each stage, from larq's formula written out again."""
    widths, c = [], stem
    for i, n in enumerate(layers):
        c += n * growth
        if i < len(layers) - 1:
            c = int(round((c // reduction[i]) / divisor) * divisor)
        widths.append(c)
    return widths


@pytest.mark.parametrize('arch', sorted(BinaryDenseNet.arch_settings))
def test_structure(arch):
    a = BinaryDenseNet.arch_settings[arch]
    m = BinaryDenseNet(arch=arch, out_indices=(0, 1, 2, 3))
    outs = m(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == independent_widths(a['layers'], a['reduction'])
    sizes = [o.shape[-1] for o in outs]
    assert sizes == ([8, 8, 8, 8] if arch == '37-dilated' else [8, 4, 2, 2])
    for i, stage in enumerate(m.stages):
        dense = [b for b in stage if isinstance(b, DenseLayer)]
        assert len(dense) == a['layers'][i]
        assert all(d.conv.dilation == (a['dilation'][i], ) * 2 for d in dense)
        assert all(d.conv.padding == (a['dilation'][i], ) * 2 for d in dense)
    convs = [c for c in m.modules() if isinstance(c, BinaryConv2d)]
    assert len(convs) == sum(a['layers'])
    assert all(c.act_binarizer.clip_value == 1.3 and c.weight_binarizer.clamp == 1.3
               for c in convs)
    # the transitions: BN -> [max-pool] -> ReLU -> real 1x1 conv; the last: BN -> ReLU
    first = m.stages[0][-1]
    assert [type(x) for x in first] == [nn.BatchNorm2d, nn.MaxPool2d, nn.ReLU, nn.Conv2d]
    assert [type(x) for x in m.stages[-1][-1]] == [nn.BatchNorm2d, nn.ReLU]


def test_dense_layer_concatenates_its_input():
    torch.manual_seed(0)
    layer = DenseLayer(6, 4, dict(type='mmbnn.BinaryConv2d'), dict(type='BN')).eval()
    x = torch.randn(2, 6, 5, 5)
    y = layer(x)
    assert torch.equal(y[:, :6], x)
    torch.testing.assert_close(y[:, 6:], layer.conv(layer.norm(x)))


def test_freezing_and_norm_eval():
    m = BinaryDenseNet(arch='28', frozen_stages=2, norm_eval=True)
    m.train()
    frozen = [m.stem, m.stages[0], m.stages[1]]
    assert not any(p.requires_grad for f in frozen for p in f.parameters())
    assert all(p.requires_grad for p in m.stages[2].parameters())
    assert not any(b.training for b in m.modules() if isinstance(b, nn.BatchNorm2d))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(arch='29'), KeyError, 'arch'),
    (dict(arch=dict(layers=(1, 1))), KeyError, 'keys'),
    (dict(arch=dict(layers=(1, 1), reduction=(2, 2), dilation=(1, 1))), ValueError,
     'reduction'),
    (dict(growth_rate=0), ValueError, 'growth_rate'),
    (dict(channel_divisor=2.5), ValueError, 'channel_divisor'),
    (dict(stem='deep'), ValueError, 'stem'),
    (dict(out_indices=(4, )), IndexError, 'out_indices'),
    (dict(frozen_stages=-2), ValueError, 'frozen_stages'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BinaryDenseNet(**kwargs)


def test_transition_without_pool_keeps_the_resolution():
    t = DenseTransition(8, 4, dict(type='BN'), pool=None)
    assert t(torch.randn(1, 8, 5, 5)).shape == (1, 4, 5, 5)


# ---------------------------------------------------------------------- small configs, kernels
SMALL = ['28', '37', '37-dilated', '45']


@pytest.mark.parametrize('arch', SMALL)
def test_small_configs_train_a_step(arch):
    for folder, suffix in (('digits', 'digits'), ('mnist', 'mnist5k')):
        cfg, model = train_step(f'{folder}/binary-densenet{arch}-w16_1xb64_{suffix}.py')
        assert model.backbone.arch == BinaryDenseNet.arch_settings[arch]
        assert model.backbone.feat_dim == cfg.model.head.in_channels


def test_mnist_config_runs_a_few_iterations(tmp_path):
    runner_iterations('mnist/binary-densenet28-w16_1xb64_mnist5k.py', tmp_path, subset=64)


@pytest.mark.parametrize('arch', SMALL)
def test_converts_to_the_kernels(arch):
    """Every binary conv (dilated ones included) runs on the kernels; logits equal the float
    simulation's."""
    torch.manual_seed(0)
    _, model = build_config_model(f'digits/binary-densenet{arch}-w16_1xb64_digits.py')
    randomise_bn(model)
    converted_matches(model, torch.randn(2, 3, 16, 16))


def test_imagenet_stem_converts():
    torch.manual_seed(0)
    net = Classifier(BinaryDenseNet(arch=dict(layers=(2, 2), reduction=(2.0, ), dilation=(1, 2)),
                                    growth_rate=8, stem_channels=8, channel_divisor=8,
                                    out_indices=(-1, )),
                     num_classes=5)
    randomise_bn(net)
    converted_matches(net, torch.randn(2, 3, 32, 32))


def test_configs_name_larq_zoos_recipe():
    cfg = load_config('binary_densenet/binary-densenet45_8xb48_in1k.py')
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=8e-3, eps=1e-8, weight_decay=0)
    assert cfg.param_scheduler.milestones == [80, 100] and cfg.train_cfg.max_epochs == 125
    assert cfg.train_dataloader.batch_size * 8 == 384
    assert cfg.custom_hooks == [dict(type='mmbnn.LatentClampHook')]
