"""Group-Net segmentation: BPAC (one dilation rate per base) in the conv layer and the backbone,
the binary ASPP head, the DeepLabV3 configs, the shapes segmentation data, and their errors."""
import glob
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from torch import nn

from conftest import ROOT
from mmbnn.layers import BinaryConv2d, MultiBaseBinaryConv2d, MultiDilationBinaryConv2d
from mmbnn.models.backbones import GroupNetResNet
from mmbnn.models.backbones.groupnet_resnet import BPAC_CODE_DILATIONS, BPAC_DILATIONS
from mmbnn.models.decode_heads import BinaryASPPHead
from mmbnn.registry import MODELS

SEG_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'deeplabv3_groupnet', '*.py')))
QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'deeplabv3_groupnet-r18_shapes.py')
FP_QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'deeplabv3_r18_shapes.py')
STAGE1_QUICKSTART = osp.join(ROOT, 'configs', 'quickstart',
                             'deeplabv3_groupnet-r18_stage1-tanh_shapes.py')
MAKE_SHAPES_SEG = osp.join(ROOT, 'tools', 'dataset_converters', 'make_shapes_seg.py')
OS8 = dict(stem='deep', strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), out_indices=(0, 1, 2, 3))
SMALL = dict(stem_channels=8, base_channels=8)


def separate_convs(layer, **kwargs):
    """K BinaryConv2d, base k with rate d_k, holding base k's slice of ``layer``'s weights."""
    k = layer.num_bases
    cin, cout = layer.in_channels // k, layer.out_channels // k
    convs = []
    for i, d in enumerate(layer.dilations):
        conv = BinaryConv2d(cin, cout, layer.kernel_size, stride=layer.stride, padding=d,
                            dilation=d, groups=layer.groups // k, bias=layer.bias is not None,
                            **kwargs).double()
        with torch.no_grad():
            conv.weight.copy_(layer.weight[i * cout:(i + 1) * cout])
            if conv.bias is not None:
                conv.bias.copy_(layer.bias[i * cout:(i + 1) * cout])
        convs.append(conv)
    return convs


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(stride=2),
    dict(bias=False, groups=10),  # two groups per base
    dict(pad_value=1.0),
    dict(padding_mode='reflect'),
])
def test_multi_dilation_equals_k_separate_binary_convs(kwargs):
    """Values and gradients of base k = BinaryConv2d with dilation d_k on channel group k."""
    torch.manual_seed(0)
    rates = (2, 3, 4, 5, 6)
    kwargs = dict(kwargs)
    groups = kwargs.pop('groups', 5)
    extra = {k: v for k, v in kwargs.items() if k in ('pad_value', 'padding_mode')}
    layer = MultiDilationBinaryConv2d(5 * 4, 5 * 6, 3, groups=groups, dilations=rates,
                                      act_binarizer=dict(type='ApproxSign'), **kwargs).double()
    singles = separate_convs(layer, act_binarizer=dict(type='ApproxSign'), **extra)
    x = torch.randn(2, 5 * 4, 13, 11, dtype=torch.float64)
    x[0, 0, :2] = 0  # exact zeros binarize to +1
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = layer(x1)
    expected = torch.cat([conv(x2[:, 4 * i:4 * (i + 1)]) for i, conv in enumerate(singles)], 1)
    torch.testing.assert_close(out, expected)
    assert out.shape[-2:] == ((13, 11) if 'stride' not in kwargs else (7, 6))
    g = torch.randn_like(out)
    out.backward(g)
    expected.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(layer.weight.grad,
                               torch.cat([conv.weight.grad for conv in singles]))


def test_multi_dilation_binarizes_once_and_merges_equal_rates():
    layer = MultiDilationBinaryConv2d(12, 12, 3, groups=3, dilations=(2, 2, 2), bias=False)
    calls = []
    layer.act_binarizer.register_forward_hook(lambda *a: calls.append('act'))
    layer.weight_binarizer.register_forward_hook(lambda *a: calls.append('weight'))
    grouped = BinaryConv2d(12, 12, 3, padding=2, dilation=2, groups=3, bias=False)
    grouped.load_state_dict(layer.state_dict())  # same keys and shapes
    x = torch.randn(2, 12, 7, 7)
    torch.testing.assert_close(layer(x), grouped(x))
    assert calls == ['act', 'weight']
    assert layer._runs == [(0, 3)]  # one F.conv2d for three equal rates
    assert MultiDilationBinaryConv2d(8, 8, 3, groups=4, dilations=(1, 1, 2, 1))._runs == [
        (0, 2), (2, 1), (3, 1)]


def test_multi_dilation_explicit_padding_and_registry():
    layer = MODELS.build(dict(type='mmbnn.MultiDilationBinaryConv2d', in_channels=4, out_channels=4,
                              kernel_size=3, groups=2, dilations=[1, 2], padding=[1, 2]))
    assert layer.base_paddings == ((1, 1), (2, 2)) and layer.dilations == (1, 2)
    assert layer(torch.randn(1, 4, 6, 6)).shape == (1, 4, 6, 6)
    same = MultiDilationBinaryConv2d(4, 4, 1, groups=2, dilations=(3, 5), padding=0)
    assert same(torch.randn(1, 4, 5, 5)).shape == (1, 4, 5, 5)


@pytest.mark.parametrize('kwargs,match', [
    (dict(dilations=(2, 3, 4)), 'multiple of K'),  # groups 2 for 3 rates
    (dict(dilations=()), 'non-empty'),
    (dict(dilations=2), 'non-empty'),
    (dict(dilations=(2, 0)), 'ints >= 1'),
    (dict(dilations=(2, 1.5)), 'ints >= 1'),
    (dict(dilations=(2, 3), dilation=2), 'dilation must be 1'),
    (dict(dilations=(2, 3), padding=(1, 2, 3)), 'one value per base'),
    (dict(dilations=(2, 3), padding=1), 'different output sizes'),
    (dict(dilations=(2, 3), padding='same'), 'not supported'),
])
def test_multi_dilation_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiDilationBinaryConv2d(4, 4, 3, groups=2, **kwargs)


def test_bpac_backbone_output_stride_8_and_rates_per_base():
    torch.manual_seed(0)
    model = GroupNetResNet(depth=18, num_bases=5, base_dilations=BPAC_DILATIONS, **OS8, **SMALL)
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 16, 16), (1, 16, 8, 8), (1, 32, 8, 8),
                                             (1, 64, 8, 8)]
    for stage, rates in ((1, None), (2, None), (3, (2, 3, 4, 5, 6)), (4, (6, 7, 8, 9, 10))):
        for block in getattr(model, f'layer{stage}'):
            for conv in (block.conv1, block.conv2):
                if rates is None:
                    assert type(conv) is BinaryConv2d
                else:
                    assert type(conv) is MultiDilationBinaryConv2d
                    assert conv.dilations == rates and conv.num_bases == 5
                    assert conv.base_paddings == tuple((r, r) for r in rates)
                    assert conv.groups == 5 and conv.stride == (1, 1)
                    assert isinstance(conv.act_binarizer, type(model.layer1[0].conv1.act_binarizer))
            if block.downsample is not None:  # 1x1 shortcut: no dilation, plain binary conv
                assert type(block.downsample[0]) is BinaryConv2d
    # stages 3 and 4 keep the spatial size: BPAC pads each base by its rate
    assert outs[2].shape[-1] == outs[3].shape[-1] == 8


def test_bpac_keeps_state_dict_and_equals_plain_model_at_equal_rates():
    torch.manual_seed(0)
    plain = GroupNetResNet(depth=18, num_bases=3, **OS8, **SMALL).eval()
    same_rates = GroupNetResNet(depth=18, num_bases=3, base_dilations=(None, None, (2, 2, 2),
                                                                         (4, 4, 4)),
                                **OS8, **SMALL).eval()
    bpac = GroupNetResNet(depth=18, num_bases=3, base_dilations=(None, None, (1, 2, 3),
                                                                   (4, 5, 6)),
                          **OS8, **SMALL).eval()
    shapes = {k: v.shape for k, v in plain.state_dict().items()}
    for model in (same_rates, bpac):
        assert {k: v.shape for k, v in model.state_dict().items()} == shapes
        model.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(2, 3, 48, 48)
    torch.testing.assert_close(same_rates(x)[-1], plain(x)[-1])
    assert not torch.allclose(bpac(x)[-1], plain(x)[-1])


def test_official_code_rates_switch():
    """The official segmentation code overwrites its per-rate convs in a loop
    (``for ratio in dilation: self.conv1 = ...``), so every base runs at the stage's last rate:
    ``dilations=BPAC_CODE_DILATIONS`` without ``base_dilations``. That equals BPAC with every
    base at the last rate, and differs from the paper's per-base rates (mmbnn's BPAC)."""
    kw = dict(depth=18, num_bases=5, strides=(1, 2, 1, 1), **SMALL)
    torch.manual_seed(0)
    code = GroupNetResNet(dilations=BPAC_CODE_DILATIONS, **kw).eval()
    last = GroupNetResNet(dilations=(1, 1, 2, 4), base_dilations=(None, None, (6, ) * 5,
                                                                  (10, ) * 5), **kw).eval()
    paper = GroupNetResNet(dilations=(1, 1, 2, 4), base_dilations=BPAC_DILATIONS, **kw).eval()
    for m in (last, paper):
        m.load_state_dict(code.state_dict())
    for stage, rate in ((3, 6), (4, 10)):
        for block in getattr(code, f'layer{stage}'):
            assert block.conv1.dilation == block.conv2.dilation == (rate, rate)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(code(x)[-1], last(x)[-1])
        assert not torch.allclose(paper(x)[-1], code(x)[-1])


def test_bpac_bottleneck_and_soft_gate():
    model = GroupNetResNet(depth=50, num_bases=2, soft_gate=True,
                           base_dilations=(None, None, (1, 2), (3, 5)), **OS8, **SMALL)
    block = model.layer4[0]
    assert type(block.conv2) is MultiDilationBinaryConv2d and block.conv2.dilations == (3, 5)
    assert type(block.conv1) is BinaryConv2d and type(block.conv3) is BinaryConv2d
    out = model(torch.randn(2, 3, 32, 32))[-1]
    assert out.shape == (2, 256, 4, 4)
    out.sum().backward()
    assert model.layer4[1].aggregate.gate.grad is not None


def test_bpac_full_precision_init(tmp_path):
    """Full-precision ResNet weights still load into every base (keys unchanged)."""
    import torchvision
    torch.manual_seed(0)
    fp = torchvision.models.resnet18().state_dict()
    path = tmp_path / 'r18.pth'
    torch.save(fp, path)
    model = GroupNetResNet(depth=18, num_bases=5, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                           base_dilations=BPAC_DILATIONS,
                           init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                         base_noise=0.0))
    model.init_weights()
    w = model.layer4[1].conv2.weight
    assert isinstance(model.layer4[1].conv2, MultiDilationBinaryConv2d)
    for base in range(5):
        torch.testing.assert_close(w[512 * base:512 * (base + 1)], fp['layer4.1.conv2.weight'])


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_bases=5, base_dilations=(None, None, (2, 3, 4), (6, 7, 8, 9, 10))),
     r'base_dilations\[2\].*3 rates.*K = num_bases = 5'),
    (dict(num_bases=3, base_dilations=BPAC_DILATIONS), r'base_dilations\[2\].*K = num_bases = 3'),
    (dict(num_bases=5, base_dilations=(None, None, 2, None)), r'base_dilations\[2\].*an int'),
    (dict(num_bases=5, base_dilations=((2, 3, 4, 5, 6), (6, 7, 8, 9, 10))),
     'base_dilations needs one entry per stage'),
    (dict(num_bases=2, base_dilations=(None, None, (2, 0), None)), 'ints >= 1'),
    (dict(num_bases=2, decomposition='layer', base_dilations=(None, None, (2, 3), None)),
     "needs decomposition='group'"),
    (dict(num_bases=2, base_dilations=(None, None, (2, 3), None),
          conv_cfg=dict(type='Conv2d')), 'conv_cfg of type mmbnn.BinaryConv2d'),
])
def test_bpac_bad_configs_fail_at_build_time(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(dict(type='mmbnn.GroupNetResNet', **kwargs))


def head(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(dict(type='mmbnn.BinaryASPPHead', in_channels=32, channels=16,
                                  num_classes=4, num_bases=3, norm_cfg=dict(type='BN')),
                             **kwargs))


def test_binary_aspp_head_shapes_and_precision():
    h = head()
    assert h.dilations == (1, 12, 24, 36)
    out = h([torch.randn(2, 32, 8, 8)])
    assert out.shape == (2, 4, 8, 8)
    branches = [m.conv for m in h.aspp_modules] + [h.image_pool[1].conv]
    assert len(branches) == 5
    for conv, rate in zip(branches, (1, 12, 24, 36, 1)):
        assert type(conv) is MultiBaseBinaryConv2d and conv.num_bases == 3
        assert (conv.in_channels, conv.out_channels, conv.groups, conv.num_bases) == (32, 16, 1, 3)
        assert conv.dilation == (rate, rate) and conv.input_bits == conv.weight_bits == 1
        assert conv.kernel_size == ((1, 1) if rate == 1 else (3, 3))
    for m in (h.aspp_modules[0], h.bottleneck):
        assert isinstance(m.bn, nn.BatchNorm2d)
    # projection and classifier stay full precision
    assert type(h.bottleneck.conv) is nn.Conv2d and h.bottleneck.conv.in_channels == 5 * 16
    assert type(h.conv_seg) is nn.Conv2d
    out.sum().backward()
    assert all(c.weight.grad is not None for c in branches)


def test_binary_aspp_head_options_and_mmseg_scope():
    h = head(dilations=[1, 2, 4], binary_image_pool=False, num_bases=1,
             branch_conv_cfg=dict(type='mmbnn.BinaryConv2d'))
    assert type(h.image_pool[1].conv) is nn.Conv2d
    assert all(type(m.conv) is BinaryConv2d for m in h.aspp_modules)
    assert h([torch.randn(2, 32, 5, 5)]).shape == (2, 4, 5, 5)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS as SEG_MODELS
    built = SEG_MODELS.build(dict(type='mmbnn.BinaryASPPHead', in_channels=8, channels=4,
                                  num_classes=2, out_channels=2))
    assert isinstance(built, BinaryASPPHead)


def test_fcn_auxiliary_head_can_be_binary():
    """What the configs' comment says: mmseg's FCNHead takes a K-base binary conv_cfg."""
    init_default_scope('mmseg')
    from mmseg.registry import MODELS as SEG_MODELS
    aux = SEG_MODELS.build(dict(type='FCNHead', in_channels=16, in_index=0, channels=8,
                                num_convs=1, concat_input=False, num_classes=3,
                                conv_cfg=dict(type='mmbnn.MultiBaseBinaryConv2d', num_bases=5)))
    assert type(aux.convs[0].conv) is MultiBaseBinaryConv2d and aux.convs[0].conv.num_bases == 5
    assert type(aux.conv_seg) is nn.Conv2d
    assert aux([torch.randn(2, 16, 6, 6)]).shape == (2, 3, 6, 6)


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_bases=0), 'num_bases'),
    (dict(dilations=()), 'dilations'),
    (dict(branch_conv_cfg=dict(type='mmbnn.MultiBaseBinaryConv2d', num_bases=2)),
     'num_bases=2 but the head has num_bases=3'),
    (dict(branch_conv_cfg=dict(type='mmbnn.BinaryConv2d')), 'has no num_bases'),
])
def test_binary_aspp_head_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        head(**kwargs)


def seg_samples(n, size, num_classes):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for i in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, size, size)))
        samples.append(s)
    return samples


def narrow_segmentor(model_cfg, size):
    """The segmentor at width 8 on ``size`` x ``size`` inputs, everything else as configured."""
    model_cfg = model_cfg.copy()
    model_cfg.backbone.update(stem_channels=8, base_channels=8)
    model_cfg.decode_head.update(in_channels=64, channels=16)
    if model_cfg.get('auxiliary_head'):
        model_cfg.auxiliary_head.update(in_channels=32, channels=8)
    model_cfg.backbone.init_cfg = None  # the checkpoint has the full width
    model_cfg.backbone.pop('pretrained', None)  # set by EncoderDecoder from model.pretrained
    model_cfg.pretrained = None
    model_cfg.data_preprocessor.size = (size, size)  # not the 512 crop
    return model_cfg


def test_seg_configs_found():
    names = [osp.basename(p) for p in SEG_CONFIGS]
    for data in ('4xb4-20k_voc12aug-512x512', '4xb2-80k_cityscapes-512x1024'):
        for model in ('r18-d8', 'groupnet-r18-5b-d8', 'groupnet-r18-5b-bpac-d8'):
            assert f'deeplabv3_{model}_{data}.py' in names
    assert osp.isfile(osp.join(ROOT, 'configs', 'deeplabv3_groupnet', 'README.md'))


@pytest.mark.parametrize('path', SEG_CONFIGS + [QUICKSTART, STAGE1_QUICKSTART, FP_QUICKSTART],
                         ids=osp.basename)
def test_seg_config_builds_and_runs(path):
    """Each config builds as configured (no init_weights: no download); the same segmentor at
    width 8 computes its losses and predicts on a small input."""
    cfg = Config.fromfile(path)
    name = osp.basename(path)
    assert cfg.default_scope == 'mmseg'
    init_default_scope('mmseg')
    bb, dh = cfg.model.backbone, cfg.model.decode_head
    if 'groupnet' in name:
        assert bb.type == 'mmbnn.GroupNetResNet' and dh.type == 'mmbnn.BinaryASPPHead'
        assert bb.stem == 'deep' and tuple(bb.strides) == (1, 2, 1, 1)
        assert tuple(bb.dilations) == (1, 1, 2, 4)
        assert cfg.model.get('pretrained') is None
        assert ('bpac' in name or 'shapes' in name) == (bb.get('base_dilations') is not None)
        assert bb.get('soft_gate', False) == ('-soft' in name)
        quickstart = name in (osp.basename(QUICKSTART), osp.basename(STAGE1_QUICKSTART))
        if 'bpac' in name and not quickstart:
            assert tuple(map(tuple, bb.base_dilations[2:])) == ((2, 3, 4, 5, 6),
                                                                (6, 7, 8, 9, 10))
        if not quickstart:
            assert tuple(dh.dilations) == (1, 12, 24, 36) and dh.num_bases == bb.num_bases == 5
            assert cfg.model.auxiliary_head.type == 'FCNHead'
            assert cfg.model.auxiliary_head.in_index == 2
    else:
        assert bb.type == 'ResNetV1c' and bb.depth == 18 and dh.type == 'ASPPHead'
    if 'voc12aug' in name:
        assert dh.num_classes == 21
    elif 'cityscapes' in name:
        assert dh.num_classes == 19
    else:
        assert dh.num_classes == 4 and cfg.val_evaluator.type == 'IoUMetric'
    if name not in (osp.basename(QUICKSTART), osp.basename(STAGE1_QUICKSTART)):
        ROOT_MODELS.build(cfg.model)  # as configured, full width

    torch.manual_seed(0)
    size, num_classes = 48, dh.num_classes
    model = revert_sync_batchnorm(ROOT_MODELS.build(narrow_segmentor(cfg.model, size)))
    model.init_weights()
    model.train()
    x = torch.rand(2, 3, size, size) * 255
    data = model.data_preprocessor(dict(inputs=list(x), data_samples=seg_samples(
        2, size, num_classes)), training=True)
    losses = model(**data, mode='loss')
    assert 'decode.loss_ce' in losses
    assert ('aux.loss_ce' in losses) == bool(cfg.model.get('auxiliary_head'))
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(dict(inputs=list(x[:1]), data_samples=seg_samples(
            1, size, num_classes))), mode='predict')
    assert preds[0].pred_sem_seg.data.shape == (1, size, size)


def make_shapes(out, *extra):
    return subprocess.run([sys.executable, MAKE_SHAPES_SEG, '--out', str(out), *map(str, extra)],
                          cwd=ROOT, capture_output=True, text=True, check=True)


def test_make_shapes_seg_layout_and_determinism(tmp_path):
    from PIL import Image
    args = ('--num-train', 3, '--num-val', 2, '--size', 40, '--seed', 0)
    proc = make_shapes(tmp_path / 'a', *args)
    assert 'train: 3 images of 40x40' in proc.stdout
    make_shapes(tmp_path / 'b', '--num-train', 5, *args[2:])
    for split, n in (('train', 3), ('val', 2)):
        imgs = sorted((tmp_path / 'a' / 'img_dir' / split).glob('*.png'))
        anns = sorted((tmp_path / 'a' / 'ann_dir' / split).glob('*.png'))
        assert [p.name for p in imgs] == [p.name for p in anns] == [f'{i:05d}.png'
                                                                    for i in range(n)]
        for img, ann in zip(imgs, anns):
            rgb, seg = np.asarray(Image.open(img)), np.asarray(Image.open(ann))
            assert rgb.shape == (40, 40, 3) and seg.shape == (40, 40) and seg.dtype == np.uint8
            assert set(np.unique(seg)) <= {0, 1, 2, 3} and (seg == 0).any() and (seg > 0).any()
            # deterministic; validation images do not depend on --num-train
            if split == 'val' or img.name < '00003':
                other = tmp_path / 'b' / 'img_dir' / split / img.name
                assert np.array_equal(rgb, np.asarray(Image.open(other)))
                other = tmp_path / 'b' / 'ann_dir' / split / ann.name
                assert np.array_equal(seg, np.asarray(Image.open(other)))


def shapes_dataset(root, split='val'):
    import mmbnn.datasets.shapes_seg  # noqa: F401  (registers mmbnn.ShapesSegDataset)
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(dict(
        type='mmbnn.ShapesSegDataset', data_root=str(root),
        data_prefix=dict(img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]))


def test_shapes_seg_dataset_reads_the_generated_set(tmp_path):
    make_shapes(tmp_path, '--num-train', 2, '--num-val', 2, '--size', 40)
    ds = shapes_dataset(tmp_path)
    assert len(ds) == 2
    assert ds.metainfo['classes'] == ('background', 'circle', 'square', 'triangle')
    assert len(ds.metainfo['palette']) == 4 and ds.metainfo['reduce_zero_label'] is False
    item = ds[0]
    seg = item['data_samples'].gt_sem_seg.data
    assert item['inputs'].shape == (3, 40, 40) and seg.shape == (1, 40, 40)
    assert 0 in seg and int(seg.max()) <= 3  # background stays class 0


def test_missing_data_root_names_it_and_how_to_generate(tmp_path):
    root = tmp_path / 'no_shapes_here'
    with pytest.raises(FileNotFoundError) as err:
        shapes_dataset(root)
    msg = str(err.value)
    assert str(root) in msg and 'data_root' in msg
    assert f'python tools/dataset_converters/make_shapes_seg.py --out {root}' in msg
    (root / 'img_dir' / 'val').mkdir(parents=True)
    (root / 'ann_dir' / 'val').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='no .png images'):
        shapes_dataset(root)
