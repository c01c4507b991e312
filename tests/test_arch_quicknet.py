"""QuickNet / QuickNetSmall / QuickNetLarge (mmbnn.QuickNet) as larq-zoo builds them: larq-zoo's
parameter counts and sizes, the block and transition structure, conversion to the bit-packed
kernels, and the configs."""
import pytest
import torch
from torch import nn

from arch_checks import (Classifier, build_config_model, converted_matches, load_config,
                         randomise_bn, train_iterations, train_step)
from mmbnn.analysis import larq_counts, summarize
from mmbnn.layers import BinaryConv2d
from mmbnn.models.backbones import QuickNet
from mmbnn.models.backbones.quicknet import QuickNetBlock, QuickNetTransition
from mmbnn.models.utils.keras_layers import BlurPool2d

# larq-zoo's docstrings (larq >= 0.10 convention: a BN layer counts 2 values per channel)
LARQ_ZOO = {'small': (12_655_688, 4.00), 'base': (13_234_088, 4.17), 'large': (23_342_248, 5.40)}


@pytest.mark.parametrize('arch, name', [('small', 'quicknet-small_8xb256_in1k.py'),
                                        ('base', 'quicknet_8xb256_in1k.py'),
                                        ('large', 'quicknet-large_8xb256_in1k.py')])
def test_imagenet_configs_match_larq_zoo(arch, name):
    """The ImageNet config's classifier has larq-zoo's parameters (within 0.5%; in fact exactly)
    and size (within 2%) in larq's convention."""
    params, size_mb = LARQ_ZOO[arch]
    cfg, model = build_config_model(f'quicknet/{name}')
    assert model.backbone.arch == QuickNet.arch_settings[arch]
    # parameters do not depend on the input size: a small input keeps the trace fast
    counts = larq_counts(model, summarize(model, (3, 32, 32)))
    assert counts.params == pytest.approx(params, rel=0.005)
    assert counts.params == params
    assert counts.size_mb == pytest.approx(size_mb, rel=0.02)
    assert round(counts.size_mb, 2) == size_mb


def test_binary_macs_counted_by_hand():
    """Every 3x3 binary conv of the blocks is a 1-bit MAC: 4 blocks of C -> C per stage (at 64 x 64
    the stages run at 16, 8, 4 and 2 pixels)."""
    net = Classifier(QuickNet('base'))
    s = summarize(net, (3, 64, 64))
    sizes = {64: 16, 128: 8, 256: 4, 512: 2}
    assert s.bops == sum(4 * c * c * 9 * h**2 for c, h in sizes.items())
    assert len([r for r in s.rows if r.binary]) == 16


def test_structure():
    m = QuickNet(arch=dict(blocks=(1, 2), channels=(8, 16)), stem_strides=(1, 1))
    stage1, stage2 = m.stages
    assert [type(b) for b in stage1] == [QuickNetBlock]  # the stem gives stage 1's width
    assert [type(b) for b in stage2] == [QuickNetTransition, QuickNetBlock, QuickNetBlock,
                                         nn.ReLU]
    conv = stage1[0].conv
    assert isinstance(conv, BinaryConv2d) and conv.pad_value == 1.0
    assert conv.act_binarizer.clip_value == conv.weight_binarizer.clip_value == 1.25
    assert conv.weight_binarizer.clamp == 1.25
    # stem BN after the depthwise conv has neither gamma nor beta (Keras scale/center False)
    dw_bn = m.stem[4]
    assert dw_bn.weight is None and dw_bn.bias is None and dw_bn.running_mean is not None
    # the transition: max-pool 2x2/1 keeps H - 1 rows, the blur halves them (rounding up)
    x = torch.randn(1, 8, 9, 9)
    assert stage2[0](x).shape == (1, 16, 4, 4)
    assert m(torch.randn(2, 3, 9, 9))[0].shape == (2, 16, 4, 4)


def test_block_is_x_plus_bn_relu_binconv():
    torch.manual_seed(0)
    block = QuickNetBlock(4, dict(type='mmbnn.BinaryConv2d'), dict(type='BN'),
                          dict(type='ReLU')).eval()
    randomise_bn(block)
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(block(x), x + block.bn(torch.relu(block.conv(x))))


def test_blurpool_kernel_and_frozen():
    blur = BlurPool2d(2, 3, 2)
    k = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16
    assert torch.equal(blur.weight[0, 0], k) and torch.equal(blur.weight[1, 0], k)
    assert not blur.weight.requires_grad
    x = torch.randn(1, 2, 6, 6)
    ref = nn.functional.conv2d(x, k.expand(2, 1, 3, 3), stride=2, padding=1, groups=2)
    assert torch.equal(blur(x), ref)
    m = QuickNet('small')
    m.init_weights()  # the backbone's init_cfg leaves the blur alone
    assert torch.equal(m.stages[1][0][2].weight[0, 0], k)
    with pytest.raises(ValueError, match='kernel_size'):
        BlurPool2d(2, 4)


@pytest.mark.parametrize('kwargs, error', [
    (dict(arch='tiny'), KeyError),
    (dict(arch=dict(blocks=(1, ))), KeyError),
    (dict(arch=dict(blocks=(1, 1), channels=(8, ))), ValueError),
    (dict(arch=dict(blocks=(1, ), channels=(6, ))), ValueError),
    (dict(strides=(2, )), ValueError),
    (dict(out_indices=(4, )), IndexError),
    (dict(frozen_stages=5), ValueError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        QuickNet(**kwargs)


def test_out_indices_frozen_stages_norm_eval():
    m = QuickNet(arch=dict(blocks=(1, 1, 1), channels=(8, 16, 32)), stem_strides=(1, 1),
                 out_indices=(0, 1, 2), frozen_stages=1, norm_eval=True)
    outs = m(torch.randn(1, 3, 16, 16))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 16, 16), (1, 16, 8, 8), (1, 32, 4, 4)]
    m.train()
    assert not any(p.requires_grad for p in m.stem.parameters())
    assert not any(p.requires_grad for p in m.stages[0].parameters())
    blur = {id(b.weight) for b in m.modules() if isinstance(b, BlurPool2d)}
    assert all(p.requires_grad for p in m.stages[1].parameters() if id(p) not in blur)
    assert all(not bn.training for bn in m.modules() if isinstance(bn, nn.BatchNorm2d))


def test_converts_fully():
    torch.manual_seed(0)
    net = Classifier(QuickNet(arch=dict(blocks=(2, 1, 1), channels=(16, 32, 64)),
                              stem_strides=(1, 1)), num_classes=5)
    net.backbone.init_weights()
    randomise_bn(net)
    converted_matches(net, torch.randn(2, 3, 12, 12))


@pytest.mark.parametrize('name', ['digits/quicknet-w16_1xb64_digits.py',
                                  'digits/quicknet-small-w8_1xb64_digits.py',
                                  'digits/quicknet-large-w16_1xb64_digits.py'])
def test_digits_configs_train_a_step(name):
    cfg, model = train_step(name)
    assert [h['type'] for h in cfg.custom_hooks] == ['mmbnn.LatentClampHook']


@pytest.mark.parametrize('name', ['mnist/quicknet-w16_1xb64_mnist5k.py',
                                  'mnist/quicknet-small-w8_1xb64_mnist5k.py',
                                  'mnist/quicknet-large-w16_1xb64_mnist5k.py'])
def test_mnist_configs_train_a_few_iterations(name):
    train_iterations(name)


@pytest.mark.parametrize('arch, name', [('base', 'quicknet_8xb256_in1k.py'),
                                        ('small', 'quicknet-small_8xb256_in1k.py'),
                                        ('large', 'quicknet-large_8xb256_in1k.py')])
def test_imagenet_recipe(arch, name):
    """larq-zoo's TrainQuickNet: Adam 1e-2 for the binary weights, SGD 0.1 for the rest, 5 warm-up
    epochs then cosine, 600 epochs, batch 2048."""
    from mmengine.optim import build_optim_wrapper
    cfg = load_config(f'quicknet/{name}')
    assert cfg.model.backbone.arch == arch
    assert cfg.train_cfg.max_epochs == 600
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 2048
    net = Classifier(QuickNet(arch=dict(blocks=(1, 1), channels=(8, 16))), num_classes=3)
    binary_opt, real_opt = build_optim_wrapper(net, cfg.optim_wrapper).optimizer.optimizers
    assert type(binary_opt).__name__ == 'Adam' and binary_opt.defaults['lr'] == 1e-2
    assert type(real_opt).__name__ == 'SGD' and real_opt.defaults['lr'] == 0.1
    binary = {id(p) for g in binary_opt.param_groups for p in g['params']}
    assert binary == {id(m.weight) for m in net.modules() if isinstance(m, BinaryConv2d)}
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, cosine.type, cosine.begin, cosine.end) == \
        ('LinearLR', 5, 'CosineAnnealingLR', 5, 600)
