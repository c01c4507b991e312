"""mmbnn.deploy.convert: binary ResNet backbones replaced by the fused engine and other binary
layers by bit-packed inference modules, both returning what the simulated model returns; BN/ReLU
folded into the epilogues; what cannot run stays simulated and is listed in one warning; what
the engine cannot express is converted layer by layer; converted models shared by threads."""
import os
import os.path as osp
import threading
import warnings

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from torch import nn

from conftest import ROOT
from mmbnn.binarizers import build_binarizer
from mmbnn.deploy import (BitPackedConv2d, BitPackedLinear, BitPackedMultiBaseConv2d,
                          FoldedInto, FusedBinaryResNet, NotConvertible, binary_layers, convert,
                          find_converter, load_packed, pack_model, register_converter,
                          simulated_layers, unfused)
from mmbnn.ops import available_isas
from mmbnn.deploy.converters import CONVERTERS
from mmbnn.layers import (BinaryConv2d, BinaryLinear, MultiBaseBinaryConv2d,
                          MultiDilationBinaryConv2d)
from mmbnn.models.backbones import GroupNetResNet

CONFIGS = osp.join(ROOT, 'tests', 'data', 'configs')
BIREAL_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                   weight_binarizer=dict(type='XNORWeight'))
WEIGHT_BINARIZERS = [dict(type='XNORWeight'), dict(type='LayerScaleWeight'),
                     dict(type='IRNetWeight'), dict(type='LearnedScaleWeight'),
                     dict(type='SignWeight'), dict(type='DoReFaWeight', bits=1),
                     dict(type='IRNetWeight', gradient='ede')]
ACT_BINARIZERS = [dict(type='ApproxSign'), dict(type='STESign'), dict(type='RSign'),
                  dict(type='SwishSign'), dict(type='EDESign'), dict(type='IdentitySTESign')]


class Classifier(nn.Module):

    def __init__(self, backbone, channels, head=None):
        super().__init__()
        self.backbone = backbone
        self.head = head or nn.Linear(channels, 10)

    def forward(self, x):
        return self.head(self.backbone(x)[-1].mean((2, 3)))


def randomise(model, seed=0):
    """Trained-like statistics: BN with negative gammas, shifted means, learned scales (some
    negative), RSign thresholds, biases; a few exact zero weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith('running_mean') or name.endswith('.bias'):
                t.copy_(torch.randn(t.shape, generator=g) * 0.3)
            elif 'bn' in name and name.endswith('weight'):
                t.copy_(torch.randn(t.shape, generator=g))  # about 1/3 negative gammas
            elif name.endswith('weight_binarizer.scale'):
                t.copy_(torch.randn(t.shape, generator=g) + 0.3)
            elif name.endswith('act_binarizer.bias'):
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
            elif name.endswith('weight') and t.dim() == 4:
                t.view(-1)[::17] = 0.0
    return model.eval()


def groupnet(**kwargs):
    torch.manual_seed(0)
    cfg = dict(depth=18, num_bases=3, stem_channels=8, base_channels=8)
    cfg.update(kwargs)
    backbone = GroupNetResNet(**cfg)
    return randomise(Classifier(backbone, backbone.feat_dim))


def bireal_many_binarizers():
    """Bi-Real-18 (width 8) cycling through the weight and sign activation binarizers, a
    binary linear head with per-feature thresholds, zero padding."""
    torch.manual_seed(0)
    backbone = GroupNetResNet(depth=18, num_bases=1, stem_channels=8, base_channels=8,
                              conv_cfg=BIREAL_CONV, order=('norm', 'add'), act_cfg=None,
                              downsample='avgpool')
    for i, (_, m) in enumerate(binary_layers(backbone)):
        m.weight_binarizer = build_binarizer(WEIGHT_BINARIZERS[i % len(WEIGHT_BINARIZERS)],
                                             channels=m.out_channels)
        m.act_binarizer = build_binarizer(ACT_BINARIZERS[i % len(ACT_BINARIZERS)],
                                          channels=m.in_channels)
    head = BinaryLinear(64, 10, act_binarizer=dict(type='RSign'),
                        weight_binarizer=dict(type='LearnedScaleWeight'))
    return randomise(Classifier(backbone, 64, head))


def check_same(model, x, fuse=True, atol=1e-4):
    """Convert, compare outputs with the simulated model; return the converted model."""
    model.eval()
    with torch.no_grad():
        expected = model(x)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no layer may stay simulated here
        converted = convert(model, fuse=fuse, example_inputs=x[:1] if fuse else None)
    with torch.no_grad():
        got = converted(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=atol)
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert not simulated_layers(converted)
    # nothing binary is left, and no float weight of a binary layer
    assert not [n for n, _ in binary_layers(converted)]
    return converted


def packed_layers(model):
    return [m for m in model.modules() if isinstance(m, (BitPackedConv2d, BitPackedLinear))]


def test_bireal_with_every_binarizer():
    model = bireal_many_binarizers()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    converted = check_same(model, x)
    assert isinstance(converted.backbone, FusedBinaryResNet)  # BN folded by the engine
    assert len(packed_layers(converted)) == 17  # 16 convs + the linear head
    assert isinstance(converted.head, BitPackedLinear)
    # layer by layer (fuse=False: no engine), and layer by layer with the BNs folded
    plain = check_same(model, x, fuse=False)
    assert not isinstance(plain.backbone, FusedBinaryResNet)
    assert not any(isinstance(m, FoldedInto) for m in plain.modules())
    layered = convert(model, example_inputs=x[:1])
    with torch.no_grad():
        torch.testing.assert_close(layered(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('kwargs', [dict(), dict(soft_gate=True), dict(decomposition='layer'),
                                    dict(downsample='real'), dict(downsample='avgpool'),
                                    dict(shared_downsample=False),
                                    dict(depth=50, base_channels=2, stem_channels=4),
                                    dict(conv_cfg=dict(BIREAL_CONV, act_binarizer=dict(
                                        type='BaseShiftSign'))),
                                    dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                                         base_dilations=(None, None, (2, 3, 4),
                                                         (6, 8, 10)))])
def test_groupnet_variants(kwargs):
    model = groupnet(**kwargs)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    converted = check_same(model, x)
    declined = [why for _, _, why in unfused(converted)]
    if kwargs.get('soft_gate') or kwargs.get('decomposition') == 'layer' or \
            kwargs.get('depth') == 50:  # layer by layer, and still the same outputs
        assert len(declined) == 1 and not isinstance(converted.backbone, FusedBinaryResNet)
        if kwargs.get('decomposition') == 'layer':
            assert BitPackedMultiBaseConv2d in {type(m) for m in converted.modules()}
    else:
        assert not declined and isinstance(converted.backbone, FusedBinaryResNet)
    if 'base_dilations' in kwargs:
        bpac = converted.backbone.blocks[6].conv1  # layer4's first block
        assert bpac._dilation[:, 0].tolist() == [6, 8, 10]  # one group per base


def test_groupnet_k5_packs_once_and_hands_bits_from_conv_to_conv(monkeypatch):
    """The fused engine packs floats into bits ONCE, after the stem: every binary conv emits
    the bits the next one reads, the K bases of a group read one packed copy of their shared
    input; layer by layer (fuse=False) the shared input is packed once per group."""
    model = groupnet(num_bases=5)
    import mmbnn.deploy.fused_resnet as engine
    packs = []
    orig = engine.pack_input
    monkeypatch.setattr(engine, 'pack_input',
                        lambda x, *a: (packs.append(tuple(x.shape)), orig(x, *a))[1])
    converted = convert(model, example_inputs=torch.zeros(1, 3, 32, 32))
    packs.clear()
    with torch.no_grad():
        converted(torch.randn(1, 3, 32, 32))
    assert packs == [(1, 8, 8, 8)]  # the stem's output, 8 channels (not 5 x 8)
    plain = convert(model, fuse=False)
    seen = []
    conv = plain.backbone.layer2[0].conv1
    orig_pack = conv.pack
    conv.pack = lambda x, k=None, code=None: (seen.append((tuple(x.shape), k)),
                                              orig_pack(x, k, code))[1]
    with torch.no_grad():
        plain(torch.randn(1, 3, 32, 32))
    assert seen == [((1, 8, 8, 8), 5)]


CLASSIFIERS = ['configs/baselines/bnn-r18_8xb32_in1k.py',
               'configs/baselines/xnornet-r18_8xb32_in1k.py',
               'configs/baselines/birealnet-r18_8xb32_in1k.py',
               'configs/baselines/irnet-r18_8xb32_in1k.py',
               'configs/baselines/reactnet-r18_8xb32_in1k.py',
               'configs/groupnet/groupnet-r18-1b_8xb32_in1k.py',
               'configs/groupnet/groupnet-r18-3b_8xb32_in1k.py',
               'configs/groupnet/groupnet-r18-5b_8xb32_in1k.py']


@pytest.mark.parametrize('config', CLASSIFIERS)
def test_every_binary_resnet_runs_fused_and_every_implementation_agrees(config, monkeypatch):
    """The README's binary ResNets (width 8, 32x32, batch 3): the fused engine gives the
    simulation's logits and classes, and every implementation (compiled ISAs, the pure-PyTorch
    path) the same floats."""
    model = build(config, **{'model.backbone.base_channels': 8,
                             'model.backbone.stem_channels': 8, 'model.head.in_channels': 64})
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        expected = model(x, mode='tensor')
    converted = convert(model, example_inputs=x[:1])
    assert isinstance(converted.backbone, FusedBinaryResNet) and not unfused(converted)
    outs = []
    for isa in available_isas():
        monkeypatch.setenv('MMBNN_BITPACK_ISA', isa)
        with torch.no_grad():
            outs.append(converted(x, mode='tensor'))
    torch.testing.assert_close(outs[0], expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(outs[0].argmax(1), expected.argmax(1))
    for out in outs[1:]:
        assert torch.equal(out, outs[0])


def test_a_converted_model_shared_by_four_threads():
    """Four Python threads calling one converted model at once get what one call alone gets:
    the fused engine, and a layer-by-layer model whose folded BNs check their input."""
    x = [torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    model = groupnet(num_bases=3)
    layered = nn.Sequential(BinaryConv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                            BinaryConv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
    randomise(layered)
    for converted in (convert(model, example_inputs=x[0][:1]),
                      convert(layered, example_inputs=x[0][:1])):
        assert any(isinstance(m, FoldedInto) for m in converted.modules()) or \
            isinstance(converted.backbone, FusedBinaryResNet)
        with torch.no_grad():
            alone = [converted(xi) for xi in x]
        results, errors = {}, []

        def work(i):
            try:
                with torch.no_grad():
                    for _ in range(5):
                        out = converted(x[i])
                        if not torch.equal(out, alone[i]):
                            results[i] = out
                            return
                results[i] = True
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(repr(e))

        threads = [threading.Thread(target=work, args=(i, )) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert all(results.get(i) is True for i in range(4)), results


def test_multi_base_conv_with_per_base_thresholds():
    """K-base convs whose bases binarize at their own thresholds (BaseShiftSign) pack the input
    once per base; with a shared threshold, once."""
    x = torch.randn(2, 12, 9, 9, generator=torch.Generator().manual_seed(3))
    for act in (dict(type='BaseShiftSign'), dict(type='ApproxSign')):
        conv = MultiBaseBinaryConv2d(12, 10, 3, padding=1, num_bases=3, act_binarizer=act,
                                     bias=True)
        m = randomise(nn.Sequential(conv, nn.BatchNorm2d(10)))
        converted = check_same(m, x)
        assert isinstance(converted[0], BitPackedMultiBaseConv2d)
        assert isinstance(converted[1], FoldedInto)


def test_multi_dilation_conv_alone():
    conv = MultiDilationBinaryConv2d(12, 6, 3, dilations=(1, 2, 5), pad_value=0.0, bias=True)
    x = torch.randn(2, 12, 11, 11, generator=torch.Generator().manual_seed(4))
    converted = check_same(randomise(conv), x)
    assert isinstance(converted, BitPackedConv2d)
    with torch.no_grad():  # the shared-input path: forward(x.repeat(1, K, 1, 1))
        torch.testing.assert_close(converted(x[:, :4], num_shared_bases=3),
                                   conv(x[:, :4].repeat(1, 3, 1, 1)), rtol=1e-5, atol=1e-5)


def test_one_warning_lists_what_stays_simulated():
    model = nn.Sequential(
        BinaryConv2d(4, 4, 3, padding=1, weight_binarizer=dict(type='DoReFaWeight', bits=2)),
        BinaryConv2d(4, 4, 3, padding=1, act_binarizer=dict(type='FPProxy')),
        BinaryConv2d(4, 4, 3, padding=1, act_binarizer=None),
        BinaryConv2d(4, 4, 3, padding=1, weight_binarizer=dict(type='SparseBinaryWeight')),
        BinaryConv2d(4, 4, 3, padding=1, padding_mode='reflect'),
        BinaryConv2d(4, 4, 3, padding=1, act_binarizer=dict(type='DoReFaActivation', bits=1)),
        BinaryConv2d(4, 4, 3, padding=1))
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        expected = model.eval()(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        converted = convert(model)
    msgs = [str(w.message) for w in caught if 'stay simulated' in str(w.message)]
    assert len(msgs) == 1
    for name, why in [('0', '2-bit'), ('1', 'FPProxy'), ('2', 'real-valued input'),
                      ('3', 'offset'), ('4', 'reflect'), ('5', 'DoReFaActivation')]:
        assert f'  {name} (BinaryConv2d): ' in msgs[0] and why in msgs[0]
    assert [n for n, _, _ in simulated_layers(converted)] == ['0', '1', '2', '3', '4', '5']
    assert isinstance(converted[6], BitPackedConv2d)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), expected, rtol=1e-5, atol=1e-5)


def test_registry_lookup_and_new_converters():
    assert find_converter(BinaryConv2d(2, 2, 1)) is CONVERTERS[BinaryConv2d]

    class SameForward(BinaryConv2d):
        pass

    class OtherForward(BinaryConv2d):

        def forward(self, x):
            return super().forward(-x)

    assert find_converter(SameForward(2, 2, 1)) is CONVERTERS[BinaryConv2d]
    assert find_converter(OtherForward(2, 2, 1)) is None  # stays simulated until registered
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        convert(nn.Sequential(OtherForward(2, 2, 1)))
    assert 'no converter registered' in str(caught[0].message)

    @register_converter(OtherForward)
    def _negated(m):
        conv = BitPackedConv2d.from_conv(m)
        conv.packed_weight.bitwise_not_()  # -x against w = x against -w: flip the weight bits
        return conv

    try:
        m = randomise(OtherForward(64, 3, 1))
        x = torch.randn(2, 64, 4, 4)
        with torch.no_grad():
            torch.testing.assert_close(convert(m)(x), m(x), rtol=1e-5, atol=1e-5)
    finally:
        del CONVERTERS[OtherForward]
    with pytest.raises(NotConvertible):
        BitPackedConv2d.from_conv(BinaryConv2d(2, 2, 1, act_binarizer=None))


def test_folded_modules_check_their_input_and_the_model_is_eval_only():
    model = nn.Sequential(BinaryConv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.BatchNorm2d(8))
    randomise(model)
    x = torch.randn(2, 8, 5, 5)
    converted = check_same(model, x)
    assert [type(m) for m in converted] == [BitPackedConv2d, FoldedInto, FoldedInto, FoldedInto]
    conv = converted[0]
    assert conv.relu and conv.post_scale is not None
    with pytest.raises(RuntimeError, match='received another tensor'):
        converted[1](torch.randn(2, 8, 5, 5))
    with pytest.raises(RuntimeError, match='cannot be trained'):
        converted.train()
    # a BN that also feeds something else, or a ReLU module called twice, is not folded
    shared = nn.ReLU()

    class Twice(nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = BinaryConv2d(8, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.relu = shared

        def forward(self, x):
            y = self.bn(self.conv(x))
            return self.relu(y) + self.relu(x)

    twice = check_same(randomise(Twice()), x)
    assert isinstance(twice.bn, FoldedInto) and isinstance(twice.relu, nn.ReLU)

    class Shortcut(nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = BinaryConv2d(8, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    kept = check_same(randomise(Shortcut()), x)
    assert isinstance(kept.bn, nn.BatchNorm2d)


def test_packed_checkpoint_converts_to_the_same_model():
    model = groupnet()
    x = torch.randn(2, 3, 32, 32)
    fresh = load_packed(groupnet(decomposition='group'), pack_model(model))
    with torch.no_grad():
        torch.testing.assert_close(convert(fresh)(x), model(x), rtol=1e-4, atol=1e-4)


def test_resident_memory_is_the_packed_size():
    """The converted layers hold 1 bit per weight (in 64-bit words) and two floats per output
    channel, never the float weights."""
    model = nn.Sequential(*[BinaryConv2d(c, c, k, padding=k // 2, bias=False)
                            for c, k in [(64, 3), (128, 1), (256, 3), (512, 3)]])
    converted = convert(model, inplace=True)
    for m in packed_layers(converted):
        assert not [n for n, p in m.named_parameters()]
        bits = m.packed_weight.numel() * 64
        weights = m.out_channels * m.in_channels // m.groups * m.kernel_size[0] * \
            m.kernel_size[1]
        assert bits == weights  # 64, 128, 256 and 512 channels: whole words


# -- mmengine models: a classifier and two detectors -----------------------------------------
def build(config, **overrides):
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.merge_from_dict(overrides)
    init_default_scope(cfg.get('default_scope', 'mmbnn'))
    return randomise(ROOT_MODELS.build(cfg.model))


def test_mmpretrain_classifier_predictions():
    model = build('tests/data/configs/tiny_groupnet_cls.py',
                  **{'model.backbone.base_channels': 8, 'model.backbone.stem_channels': 8,
                     'model.head.in_channels': 64})
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(x, mode='tensor')
    converted = convert(model, example_inputs=x[:1])
    with torch.no_grad():
        got = converted(x, mode='tensor')
        preds = converted.predict(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert [p.pred_label.item() for p in preds] == expected.argmax(1).tolist()


def det_samples(n, size):
    from mmdet.structures import DetDataSample
    return [DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size), batch_input_shape=(size, size),
                                        scale_factor=(1.0, 1.0))) for _ in range(n)]


@pytest.mark.parametrize('config', ['tests/data/configs/tiny_det.py',
                                    'configs/quickstart/fcos_groupnet-r18_shapes.py'])
def test_detector_boxes_after_nms(config):
    model = build(config, **{'model.test_cfg.score_thr': 0.0, 'model.test_cfg.max_per_img': 20})
    with torch.no_grad():  # spread the class scores so that NMS keeps various boxes
        model.bbox_head.conv_cls.bias.normal_(-1, 1, generator=torch.Generator().manual_seed(0))
    size = 64
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected = model.predict(x, det_samples(2, size), rescale=False)
    converted = convert(model, example_inputs=x[:1])
    assert packed_layers(converted)
    with torch.no_grad():
        got = converted.predict(x, det_samples(2, size), rescale=False)
    for g, e in zip(got, expected):
        g, e = g.pred_instances, e.pred_instances
        assert len(g) == len(e) > 0
        assert torch.equal(g.labels, e.labels)
        torch.testing.assert_close(g.scores, e.scores, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(g.bboxes, e.bboxes, rtol=1e-4, atol=1e-3)


@pytest.mark.filterwarnings('ignore:``build_loss`` would be deprecated soon:UserWarning')
@pytest.mark.filterwarnings('ignore:Default ``avg_non_ignore`` is False:UserWarning')
def test_bpac_segmentor_logits():
    """Group-Net DeepLabV3 with BPAC (per-base dilations) and the binary ASPP head (K-base
    dilated convs)."""
    model = build('configs/quickstart/deeplabv3_groupnet-r18_shapes.py')
    x = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = model(x, mode='tensor')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        converted = convert(model, example_inputs=x[:1])
    assert any(isinstance(m, BitPackedMultiBaseConv2d) for m in converted.modules())
    with torch.no_grad():
        got = converted(x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(got.argmax(1), expected.argmax(1))
