"""BinaryResNetE18 (mmbnn.BinaryResNetE) and BinaryAlexNet (mmbnn.BinaryAlexNet) as larq-zoo
builds them: larq-zoo's parameters, sizes and MACs, structure, conversion, configs, and Bop."""
import pytest
import torch
from torch import nn

from arch_checks import (Classifier, build_config_model, converted_matches, counts_at_224,
                         load_config, randomise_bn, train_iterations, train_step)
from mmbnn.layers import BinaryConv2d, BinaryLinear
from mmbnn.models.backbones import BinaryAlexNet, BinaryResNetE, PooledConv2d

TINY_ALEXNET = dict(convs=((8, 3, 1, False), (12, 3, 1, True), (16, 3, 1, False),
                           (16, 3, 1, False), (8, 3, 1, True)), hidden=(32, ))


# larq-zoo's figures: docstring parameters and size (2019: every Keras BN variable), size on its
# docs page (larq >= 0.10: 2 values per BN channel), MACs
LARQ_ZOO = {
    'binary_resnet_e/binary-resnet-e18_8xb128_in1k.py': (11_699_368, 4.03, 4.00, 1.81e9),
    'binary_alexnet/binary-alexnet_8xb64_in1k.py': (61_859_192, 7.49, 7.45, 841e6),
}


@pytest.mark.parametrize('name', sorted(LARQ_ZOO))
def test_imagenet_configs_match_larq_zoo(name):
    """Parameters within 0.5% (in fact exact), sizes and MACs within 2% of larq-zoo's."""
    params, size_keras, size_larq, macs = LARQ_ZOO[name]
    _, model = build_config_model(name)
    s, counts = counts_at_224(model)
    keras, larq = counts['keras'], counts['larq']
    assert keras.params == pytest.approx(params, rel=0.005)
    assert keras.params == params
    assert keras.size_mb == pytest.approx(size_keras, rel=0.02)
    assert larq.size_mb == pytest.approx(size_larq, rel=0.02)
    assert (round(keras.size_mb, 2), round(larq.size_mb, 2)) == (size_keras, size_larq)
    assert larq.macs == pytest.approx(macs, rel=0.02)
    if 'resnet' in name:  # 1.81 G MACs, 92.4% binary; 16 binary 3x3 convs
        assert round(100 * larq.binary_mac_share, 1) == 92.4
        assert len([r for r in s.rows if r.binary]) == 16
    else:  # the first conv has 1-bit weights but the image as input: real MACs
        stem = [r for r in s.rows if r.name == 'backbone.stem.0'][0]
        assert (stem.input_bits, stem.weight_bits) == (32, 1) and stem.bops == 0
        assert stem.macs == 64 * 56 * 56 * 3 * 11 * 11
        assert larq.macs_by_precision[32] == stem.macs


def test_resnet_e_structure():
    m = BinaryResNetE(base_channels=8, stem='cifar', out_indices=(0, 1, 2, 3))
    assert [len(s) for s in m.stages] == [4, 4, 4, 5]  # 2 x blocks, + the final ReLU
    assert isinstance(m.stages[-1][-1], nn.ReLU)
    first, second = m.stages[1][0], m.stages[1][1]
    assert isinstance(first.downsample[0], PooledConv2d) and second.downsample is None
    assert first.conv.stride == (2, 2)
    conv = first.conv
    assert conv.act_binarizer.clip_value == conv.weight_binarizer.clamp == 1.25
    assert conv.pad_value == 0.0
    outs = m(torch.randn(2, 3, 16, 16))
    assert [tuple(o.shape[1:]) for o in outs] == [(8, 16, 16), (16, 8, 8), (32, 4, 4), (64, 2, 2)]
    assert (outs[-1] >= 0).all()  # the final ReLU
    imagenet = BinaryResNetE(base_channels=8)
    assert [type(x).__name__ for x in imagenet.stem] == [
        'Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d', 'BatchNorm2d']
    with pytest.raises(KeyError, match='depth'):
        BinaryResNetE(depth=50)
    with pytest.raises(ValueError, match='stem'):
        BinaryResNetE(stem='deep')


def test_resnet_e_block_is_bn_binconv_plus_shortcut():
    torch.manual_seed(0)
    m = BinaryResNetE(base_channels=4, stem='cifar').eval()
    randomise_bn(m)
    block = m.stages[1][0]
    x = torch.randn(2, 4, 6, 6)
    pooled, bn = block.downsample
    shortcut = bn(nn.functional.conv2d(nn.functional.avg_pool2d(x, 2), pooled.weight))
    torch.testing.assert_close(block(x), block.bn(block.conv(x)) + shortcut)
    plain = m.stages[1][1]
    y = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(plain(y), plain.bn(plain.conv(y)) + y)


def test_alexnet_structure():
    m = BinaryAlexNet(arch=TINY_ALEXNET, num_classes=5, input_size=8)
    assert len(m.stages) == 5 and m.feat_dim == 5
    first = m.stem[0]
    assert first.act_binarizer is None and first.weight_binarizer is not None
    for bn in (x for x in m.modules() if isinstance(x, nn.modules.batchnorm._BatchNorm)):
        assert bn.weight is None and bn.bias is not None  # Keras' scale=False
    classifier = m.stages[-1]
    linears = [x for x in classifier if isinstance(x, BinaryLinear)]
    assert [(x.in_features, x.out_features) for x in linears] == [(8 * 1 * 1, 32), (32, 5)]
    assert all(x.bias is None and x.input_bits == x.weight_bits == 1 for x in linears)
    logits, = m(torch.randn(2, 3, 8, 8))
    assert logits.shape == (2, 5)
    features = BinaryAlexNet(arch=TINY_ALEXNET, num_classes=0, input_size=8,
                             out_indices=(0, 3))(torch.randn(2, 3, 8, 8))
    assert [tuple(f.shape[1:]) for f in features] == [(12, 3, 3), (8, 1, 1)]
    wide = BinaryAlexNet(arch=TINY_ALEXNET, num_classes=5, input_size=8, inflation_ratio=2)
    assert wide.stages[0][0].out_channels == 24 and wide.stages[3][0].out_channels == 8


@pytest.mark.parametrize('kwargs, error', [
    (dict(arch='tiny'), KeyError),
    (dict(arch=dict(convs=((8, 3, 1), ), hidden=())), ValueError),
    (dict(inflation_ratio=0), ValueError),
    (dict(input_size=16), ValueError),  # the ImageNet arch needs more than 16 pixels
])
def test_alexnet_bad_arguments(kwargs, error):
    with pytest.raises(error):
        BinaryAlexNet(**kwargs)


def test_resnet_e_converts_fully():
    torch.manual_seed(0)
    net = Classifier(BinaryResNetE(base_channels=8, stem='cifar'), num_classes=5)
    net.backbone.init_weights()
    randomise_bn(net)
    converted_matches(net, torch.randn(2, 3, 12, 12))


def test_alexnet_converts_but_its_real_input_layer():
    """The first conv has real inputs (sign weights): the kernels cannot run it, so it stays
    simulated and is reported; every other binary layer, the classifier's too, converts."""
    torch.manual_seed(0)
    net = Classifier(BinaryAlexNet(arch=TINY_ALEXNET, num_classes=5, input_size=8), fc=False)
    net.backbone.init_weights()
    randomise_bn(net)
    converted = converted_matches(net, torch.randn(2, 3, 8, 8), simulated=['backbone.stem.0'])
    assert not any(isinstance(m, (BinaryLinear, BinaryConv2d)) for n, m in
                   converted.named_modules() if n != 'backbone.stem.0')


@pytest.mark.parametrize('name', ['digits/binary-resnet-e18-w16_1xb64_digits.py',
                                  'digits/binary-alexnet-w16_1xb64_digits.py'])
def test_digits_configs_train_a_step(name):
    cfg, _ = train_step(name)
    assert [h['type'] for h in cfg.custom_hooks] == ['mmbnn.LatentClampHook']


@pytest.mark.parametrize('name', ['mnist/binary-resnet-e18-w16_1xb64_mnist5k.py',
                                  'mnist/binary-alexnet-w16_1xb64_mnist5k.py'])
def test_mnist_configs_train_a_few_iterations(name):
    train_iterations(name)


def test_imagenet_recipes():
    e18 = load_config('binary_resnet_e/binary-resnet-e18_8xb128_in1k.py')
    assert e18.optim_wrapper.optimizer == dict(type='Adam', lr=4e-3, eps=1e-8, weight_decay=0)
    assert e18.param_scheduler.milestones == [70, 90, 110] and e18.param_scheduler.gamma == 0.3
    assert (e18.train_cfg.max_epochs, e18.auto_scale_lr.base_batch_size) == (120, 1024)
    alex = load_config('binary_alexnet/binary-alexnet_8xb64_in1k.py')
    assert alex.optim_wrapper.optimizer.lr == 1e-2
    assert (alex.param_scheduler.step_size, alex.param_scheduler.gamma) == (10, 0.5)
    assert (alex.train_cfg.max_epochs, alex.auto_scale_lr.base_batch_size) == (150, 512)
    assert alex.model.head.type == 'ClsHead'


def test_bop_config_trains_binary_weights_with_bop():
    """configs/bop: BinaryAlexNet's binary weights (its real-input first conv's included) with
    Bop, its BN offsets with Adam; a few iterations keep the binary weights at +-1."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import init_default_scope
    from mmpretrain.structures import DataSample
    cfg = load_config('bop/bop_binary-alexnet_8xb64_in1k.py')
    assert cfg.optim_wrapper.binary_optimizer == dict(type='mmbnn.Bop', gamma=1e-4,
                                                      threshold=1e-8)
    init_default_scope('mmpretrain')
    model_cfg = cfg.model.copy()
    model_cfg.backbone.update(arch=TINY_ALEXNET, num_classes=10, input_size=8)
    model = ROOT_MODELS.build(model_cfg)
    model.init_weights()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    bop, adam = wrapper.optimizer.optimizers
    binary = [m.weight for m in model.modules() if isinstance(m, (BinaryConv2d, BinaryLinear))]
    assert [p for g in bop.param_groups for p in g['params']] == binary
    assert type(adam).__name__ == 'Adam'
    for _ in range(2):
        samples = [DataSample().set_gt_label(i % 10) for i in range(4)]
        loss = model(torch.randn(4, 3, 8, 8), samples, mode='loss')['loss']
        wrapper.update_params(loss)
    assert all(set(w.unique().tolist()) <= {-1.0, 1.0} for w in binary)
