"""Binary FCOS parts: BinaryFPN, GroupNetFCOSHead, and the detector of configs/fcos_groupnet.py."""
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from torch import nn

from conftest import ROOT
from mmbnn.layers import MultiBaseBinaryConv2d
from mmbnn.models import BinaryFPN, GroupNetFCOSHead
from mmbnn.registry import MODELS

STRIDES = [8, 16, 32, 64, 128]


def small_head(**kwargs):
    cfg = dict(num_classes=3, in_channels=16, feat_channels=16, stacked_convs=2, num_bases=2,
               strides=STRIDES)
    cfg.update(kwargs)
    return GroupNetFCOSHead(**cfg)


def pyramid(n=2, c=16, size=32):
    return tuple(torch.randn(n, c, max(size // 2**i, 1), max(size // 2**i, 1))
                 for i in range(len(STRIDES)))


# -- head -------------------------------------------------------------------------------------
def test_head_forward_shapes_per_level():
    head = small_head()
    feats = pyramid()
    cls_scores, bbox_preds, centernesses = head(feats)
    for f, c, b, ctr in zip(feats, cls_scores, bbox_preds, centernesses):
        n, _, h, w = f.shape
        assert c.shape == (n, 3, h, w)
        assert b.shape == (n, 4, h, w)
        assert ctr.shape == (n, 1, h, w)
    assert all((b >= 0).all() for b in bbox_preds)  # exp() of the scaled regression


def test_head_towers_shared_across_levels_bn_per_level():
    head = small_head()
    calls = {}

    def count(name):
        def hook(module, inputs, output):
            calls.setdefault(name, []).append(inputs[0].shape[-1])
        return hook

    for tower in ('cls', 'reg'):
        for i, conv in enumerate(getattr(head, f'{tower}_convs')):
            conv.register_forward_hook(count(f'{tower}_conv{i}'))
            for lvl, bn in enumerate(getattr(head, f'{tower}_norms')[i]):
                bn.register_forward_hook(count(f'{tower}_bn{i}_{lvl}'))
    feats = pyramid()
    head(feats)
    widths = [f.shape[-1] for f in feats]
    for tower in ('cls', 'reg'):
        for i in range(head.stacked_convs):
            # one conv module object serves every level ...
            assert calls[f'{tower}_conv{i}'] == widths
            norms = getattr(head, f'{tower}_norms')[i]
            # ... and every level has its own BN, used by that level only
            assert len(norms) == len(STRIDES)
            assert len({id(bn) for bn in norms}) == len(STRIDES)
            for lvl in range(len(STRIDES)):
                assert isinstance(norms[lvl], nn.BatchNorm2d)
                assert calls[f'{tower}_bn{i}_{lvl}'] == [widths[lvl]]
    assert head.cls_convs[0] is not head.reg_convs[0]


def test_head_tower_convs_binary_final_convs_full_precision():
    head = small_head(num_bases=3)
    for conv in list(head.cls_convs) + list(head.reg_convs):
        assert isinstance(conv, MultiBaseBinaryConv2d)
        assert conv.num_bases == 3 and conv.input_bits == 1 and conv.weight_bits == 1
        assert conv.bias is None  # a BN follows
    for name in ('conv_cls', 'conv_reg', 'conv_centerness'):
        assert type(getattr(head, name)) is nn.Conv2d, name
    binary = [m for m in head.modules() if hasattr(m, 'act_binarizer')]
    assert len(binary) == 2 * head.stacked_convs


def test_head_shortcut_argument():
    torch.manual_seed(0)
    with_sc = small_head(shortcut=True)
    without = small_head(shortcut=False)
    without.load_state_dict(with_sc.state_dict())
    feats = pyramid()
    with torch.no_grad():
        a, b = with_sc(feats)[0][0], without(feats)[0][0]
    assert not torch.allclose(a, b)


@pytest.mark.parametrize('kwargs, match', [
    (dict(dcn_on_last_conv=True), 'dcn_on_last_conv'),
    (dict(order=('act', 'add')), 'order must'),
    (dict(act_cfg=None), 'disagree'),
    (dict(norm_cfg=None), 'needs a norm_cfg'),
    (dict(num_bases=0), 'num_bases must be an int >= 1'),
    (dict(conv_cfg=dict(type='mmbnn.MultiBaseBinaryConv2d', num_bases=2), num_bases=3),
     'disagrees with conv_cfg'),
])
def test_head_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_head(**kwargs)


def test_head_wrong_number_of_levels():
    with pytest.raises(ValueError, match='has 5 levels'):
        small_head()(pyramid()[:3])


# -- neck -------------------------------------------------------------------------------------
def small_neck(**kwargs):
    cfg = dict(in_channels=[8, 16, 32], out_channels=16, num_outs=5, num_bases=3,
               add_extra_convs='on_output')
    cfg.update(kwargs)
    return BinaryFPN(**cfg)


def backbone_feats(n=2):
    return (torch.randn(n, 8, 16, 16), torch.randn(n, 16, 8, 8), torch.randn(n, 32, 4, 4))


def test_neck_convs_binary_with_k_bases_and_bn_per_level():
    neck = small_neck()
    modules = list(neck.lateral_convs) + list(neck.fpn_convs)
    assert len(neck.lateral_convs) == 3 and len(neck.fpn_convs) == 5  # 3 outputs + P6, P7
    for m in modules:
        assert isinstance(m.conv, MultiBaseBinaryConv2d)
        assert m.conv.num_bases == 3 and m.conv.input_bits == 1 and m.conv.weight_bits == 1
        assert isinstance(m.bn, nn.BatchNorm2d) and m.with_norm
        assert m.conv.bias is None
    assert len({id(m.bn) for m in modules}) == len(modules)
    outs = neck(backbone_feats())
    assert [tuple(o.shape) for o in outs] == [(2, 16, s, s) for s in (16, 8, 4, 2, 1)]


def test_neck_extra_levels_depend_on_the_image():
    neck = small_neck().eval()
    with torch.no_grad():
        p7 = [neck(backbone_feats(1))[-1] for _ in range(2)]
    assert not torch.allclose(p7[0], p7[1])


def test_neck_refuses_relu_before_binary_extra_convs():
    with pytest.raises(ValueError, match='relu_before_extra_convs=True with binary extra convs'):
        small_neck(relu_before_extra_convs=True)
    # full-precision convs may take it
    small_neck(relu_before_extra_convs=True, conv_cfg=dict(type='Conv2d'), num_bases=None)


def test_neck_lateral_shortcut_matches_channels():
    neck = small_neck(in_channels=[8, 16, 64], out_channels=16).eval()
    for conv in neck.lateral_convs:  # leave only the shortcuts
        nn.init.zeros_(conv.bn.weight)
        nn.init.zeros_(conv.bn.bias)
    c3, c4, c5 = torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8), torch.randn(1, 64, 4, 4)
    assert torch.allclose(neck._lateral(0, c3), c3.repeat(1, 2, 1, 1))  # 8 -> 16: repeated
    assert torch.allclose(neck._lateral(1, c4), c4)
    assert torch.allclose(neck._lateral(2, c5), c5.view(1, 16, 4, 4, 4).mean(2))  # averaged
    with pytest.raises(ValueError, match='in_channels\\[0\\]=12 and out_channels=16 to divide'):
        small_neck(in_channels=[12, 16, 32])
    small_neck(in_channels=[12, 16, 32], shortcut=False)


def test_neck_shortcut_and_full_precision_variant():
    torch.manual_seed(0)
    a, b = small_neck(shortcut=True).eval(), small_neck(shortcut=False).eval()
    b.load_state_dict(a.state_dict())
    feats = backbone_feats()
    with torch.no_grad():
        assert not torch.allclose(a(feats)[0], b(feats)[0])
    fp = small_neck(conv_cfg=dict(type='Conv2d'), num_bases=None)
    assert all(type(m.conv) is nn.Conv2d for m in fp.fpn_convs)


# -- detector ---------------------------------------------------------------------------------
def tiny_detector_cfg(num_bases=2):
    return dict(
        type='FCOS',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                               pad_size_divisor=32),
        backbone=dict(type='mmbnn.GroupNetResNet', depth=18, num_bases=num_bases,
                      stem_channels=8, base_channels=8, out_indices=(1, 2, 3)),
        neck=dict(type='mmbnn.BinaryFPN', in_channels=[16, 32, 64], out_channels=16,
                  num_bases=num_bases, add_extra_convs='on_output', num_outs=5),
        bbox_head=dict(type='mmbnn.GroupNetFCOSHead', num_classes=3, in_channels=16,
                       feat_channels=16, stacked_convs=2, num_bases=num_bases,
                       strides=STRIDES),
        test_cfg=dict(nms_pre=100, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
                      max_per_img=10))


def dummy_batch(n=2, size=64):
    inputs = torch.randn(n, 3, size, size)
    samples = []
    for i in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size), batch_input_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[4.0, 4.0, 30.0, 28.0], [20.0 + i, 30.0, 60.0, 62.0]]),
            labels=torch.tensor([0, 2]))
        samples.append(s)
    return inputs, samples


def test_loss_computes_and_backprops():
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(tiny_detector_cfg(), _scope_='mmdet'))
    model.init_weights()
    model.train()
    inputs, samples = dummy_batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_centerness'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    for name in ('backbone.layer1.0.conv1.weight', 'neck.lateral_convs.0.conv.weight',
                 'neck.fpn_convs.4.conv.weight', 'bbox_head.cls_convs.0.weight',
                 'bbox_head.reg_convs.1.weight', 'bbox_head.conv_cls.weight',
                 'bbox_head.cls_norms.0.0.weight', 'bbox_head.conv_centerness.weight'):
        grad = model.get_parameter(name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_predict_gives_boxes():
    init_default_scope('mmdet')
    model = MODELS.build(ConfigDict(tiny_detector_cfg(), _scope_='mmdet')).eval()
    inputs, samples = dummy_batch()
    with torch.no_grad():
        results = model.predict(inputs, samples)
    for r in results:
        p = r.pred_instances
        assert p.bboxes.shape[1] == 4 and len(p.bboxes) == len(p.scores) == len(p.labels)
        assert (p.labels < 3).all() and ((p.scores >= 0) & (p.scores <= 1)).all()


def test_config_builds_full_detector_and_runs_tensor_mode():
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'fcos_groupnet.py'))
    # stage 2 of the two-stage recipe: every weight comes from stage 1, which starts from
    # torchvision's ResNet-18
    assert cfg.model.backbone.init_cfg is None
    assert cfg.load_from.startswith('work_dirs/fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco/')
    model = MODELS.build(cfg.model).eval()
    assert type(model.backbone).__name__ == 'GroupNetResNet' and model.backbone.num_bases == 5
    assert model.neck.num_bases == 5 and model.bbox_head.num_bases == 5
    assert model.neck.relu_before_extra_convs is False
    with torch.no_grad():
        cls_scores, bbox_preds, centernesses = model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert [tuple(c.shape) for c in cls_scores] == [(1, 80, 8, 8), (1, 80, 4, 4),
                                                    (1, 80, 2, 2), (1, 80, 1, 1),
                                                    (1, 80, 1, 1)]
    assert len(bbox_preds) == len(centernesses) == 5


@pytest.mark.parametrize('name, depth, k, in_channels', [
    ('fcos/fcos_groupnet-r18-5b_fpn_1x_coco.py', 18, 5, [128, 256, 512]),
    ('fcos/fcos_groupnet-r18-3b_fpn_1x_coco.py', 18, 3, [128, 256, 512]),
    ('fcos/fcos_groupnet-r34-5b_fpn_1x_coco.py', 34, 5, [128, 256, 512]),
    ('fcos/fcos_groupnet-r50-5b_fpn_1x_coco.py', 50, 5, [512, 1024, 2048]),
])
def test_variant_configs(name, depth, k, in_channels):
    """Each binary config (stage 2) and its stage 1: the same detector, K and widths; stage 1
    starts every base from torchvision's ResNet of that depth, stage 2 from stage 1."""
    stage2 = Config.fromfile(osp.join(ROOT, 'configs', name))
    stage1 = Config.fromfile(osp.join(ROOT, 'configs', name.replace('_fpn', '_stage1-tanh_fpn')))
    for cfg in (stage1, stage2):
        m = cfg.model
        assert m.backbone.type == 'mmbnn.GroupNetResNet' and m.backbone.depth == depth
        assert m.backbone.num_bases == m.neck.num_bases == m.bbox_head.num_bases == k
        assert m.neck.in_channels == in_channels and m.neck.type == 'mmbnn.BinaryFPN'
        assert m.bbox_head.type == 'mmbnn.GroupNetFCOSHead'
        assert m.data_preprocessor.bgr_to_rgb is True
        assert cfg.train_cfg.max_epochs == 12
    assert stage1.model.backbone.init_cfg.checkpoint == f'torchvision://resnet{depth}'
    assert stage2.model.backbone.init_cfg is None
    assert stage2.load_from == ('work_dirs/' + osp.basename(name).replace(
        '_fpn', '_stage1-tanh_fpn')[:-3] + '/epoch_12.pth')


def test_full_precision_reference_config():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'fcos', 'fcos_r18_fpn_1x_coco.py'))
    assert cfg.model.backbone.type == 'ResNet' and cfg.model.backbone.depth == 18
    assert cfg.model.neck.in_channels == [128, 256, 512]
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet18'
    assert cfg.train_cfg.max_epochs == 12
