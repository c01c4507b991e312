"""Distillation of the binary FCOS (configs/distill/kd_fcos-r18_fcos-groupnet-r18_shapes.py): the
positives per level against an independent NumPy FCOS assignment, and the wrapper's detection
losses against NumPy formulas on the recorded class scores and FPN features."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from conftest import ROOT  # noqa: E402
from mmbnn.models.distillers import fcos_positive_masks  # noqa: E402
from mmbnn.registry import ROOT_MODELS  # noqa: E402

KD_FCOS = osp.join(ROOT, 'configs', 'distill', 'kd_fcos-r18_fcos-groupnet-r18_shapes.py')
FP_FCOS = osp.join(ROOT, 'configs', 'quickstart', 'fcos_r18_shapes.py')
STRIDES = (8, 16, 32, 64, 128)
RANGES = ((-1, 16), (16, 32), (32, 64), (64, 128), (128, 1e8))


def np_fcos_positives(boxes, size, center_sampling, radius=1.5):
    """FCOS's positives (Tian et al., ICCV 2019, as mmdet's FCOSHead assigns them) per level:
    a point (centre of a cell) is positive if it lies inside a box (or, with centre sampling,
    inside the box's centre region of radius ``radius * stride``, clipped to the box) and the
    largest of its four distances to the box lies in the level's regression range."""
    masks = []
    for stride, (lo, hi) in zip(STRIDES, RANGES):
        n = int(np.ceil(size / stride))
        ys, xs = np.meshgrid((np.arange(n) + 0.5) * stride, (np.arange(n) + 0.5) * stride,
                             indexing='ij')
        mask = np.zeros((n, n), bool)
        for x1, y1, x2, y2 in boxes:
            dist = np.stack([xs - x1, ys - y1, x2 - xs, y2 - ys])
            if center_sampling:
                cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, stride * radius
                region = (max(cx - r, x1), max(cy - r, y1), min(cx + r, x2), min(cy + r, y2))
                inside = np.stack([xs - region[0], ys - region[1], region[2] - xs,
                                   region[3] - ys]).min(0) > 0
            else:
                inside = dist.min(0) > 0
            far = dist.max(0)
            mask |= inside & (far >= lo) & (far <= hi)
        masks.append(mask)
    return masks


def det_samples(boxes_per_image, size=64):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    samples = []
    for boxes in boxes_per_image:
        s = DetDataSample(metainfo=dict(img_shape=(size, size), pad_shape=(size, size),
                                        ori_shape=(size, size), batch_input_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        gt = InstanceData()
        gt.bboxes = torch.tensor(boxes, dtype=torch.float32)
        gt.labels = torch.arange(len(boxes)) % 3
        s.gt_instances = gt
        samples.append(s)
    return samples


BOXES = [[(4, 6, 24, 30), (30, 34, 58, 60)],       # 20-28 px objects (P3 / P4)
         [(10, 10, 50, 42), (40, 2, 52, 14)]]      # one large, one small


def build(path, **options):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    init_default_scope(cfg.default_scope)
    return ROOT_MODELS.build(copy.deepcopy(cfg.model))


@pytest.mark.parametrize('center_sampling', [False, True])
def test_fcos_positive_masks_match_an_independent_assignment(center_sampling):
    detector = build(FP_FCOS, **{'model.bbox_head.center_sampling': center_sampling})
    sizes = [(int(np.ceil(64 / s)), ) * 2 for s in STRIDES]
    masks = fcos_positive_masks(detector, sizes, det_samples(BOXES))
    assert [tuple(m.shape) for m in masks] == [(2, h, w) for h, w in sizes]
    total = 0
    for img, boxes in enumerate(BOXES):
        want = np_fcos_positives(boxes, 64, center_sampling)
        for lvl in range(len(STRIDES)):
            np.testing.assert_array_equal(masks[lvl][img].numpy(), want[lvl], err_msg=f'{lvl}')
            total += want[lvl].sum()
    assert total > 0 and masks[0].dtype == torch.bool


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    torch.manual_seed(7)
    teacher = build(FP_FCOS)
    path = str(tmp_path_factory.mktemp('fcos_teacher') / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return path


def np_bernoulli_kl(s, t):
    p, q = 1 / (1 + np.exp(-s)), 1 / (1 + np.exp(-t))
    return (q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))).sum(axis=1)


def np_standardize(f):
    return (f - f.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
        f.var(axis=(0, 2, 3), keepdims=True) + 1e-6)


def test_binary_fcos_distills_from_the_fp_fcos(teacher_ckpt):
    cfg = Config.fromfile(KD_FCOS)
    losses_cfg = cfg.model.distill_losses
    model = build(KD_FCOS, **{'model.teacher.checkpoint': teacher_ckpt})
    model.eval()  # BN statistics fixed: the reference passes see the same networks
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    samples = det_samples(BOXES)
    losses = model.loss(x, samples)
    assert {'loss_cls', 'loss_bbox', 'loss_centerness', 'loss_kd_cls', 'loss_mimic'} <= \
        set(losses)
    assert all(torch.isfinite(v) for v in losses.values())

    with torch.no_grad():
        s_feats = model.student.extract_feat(x)
        t_feats = model.teacher.extract_feat(x)
        s_cls = model.student.bbox_head.forward(s_feats)[0]
        t_cls = model.teacher.bbox_head.forward(t_feats)[0]
    sizes = [c.shape[-2:] for c in s_cls]
    assignments = [np_fcos_positives(b, 64, center_sampling=True) for b in BOXES]
    masks = [np.stack([a[lvl] for a in assignments]) for lvl in range(len(sizes))]
    pos = np.concatenate([m.reshape(-1) for m in masks])
    assert 0 < pos.sum() < pos.size

    # soft class targets: Bernoulli KL per location, positives and the rest averaged apart
    d = np.concatenate([np_bernoulli_kl(s.numpy().astype(np.float64),
                                        t.numpy().astype(np.float64)).reshape(-1)
                        for s, t in zip(s_cls, t_cls)])
    kd = losses_cfg.loss_kd_cls
    want = kd.loss_weight * (kd.pos_weight * d[pos].mean() + kd.neg_weight * d[~pos].mean())
    assert losses['loss_kd_cls'].item() == pytest.approx(want, rel=1e-4)

    # FPN imitation at the positives, channels standardised per level
    sq = np.concatenate([
        ((np_standardize(s.numpy().astype(np.float64)) -
          np_standardize(t.numpy().astype(np.float64))) ** 2).sum(axis=1).reshape(-1)
        for s, t in zip(s_feats, t_feats)])
    mimic = losses_cfg.loss_mimic
    want = mimic.loss_weight * sq[pos].sum() / (2 * pos.sum())
    assert losses['loss_mimic'].item() == pytest.approx(want, rel=1e-4)

    # the student learns from both; the teacher is untouched
    model.zero_grad()
    (losses['loss_kd_cls'] + losses['loss_mimic']).backward()
    assert model.student.bbox_head.conv_cls.weight.grad.abs().sum() > 0
    assert model.student.backbone.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())


def test_binary_fcos_checkpoint_is_the_stage2_detectors(teacher_ckpt):
    """The distilled detector saves and tests as the plain stage-2 detector."""
    model = build(KD_FCOS, **{'model.teacher.checkpoint': '/nowhere.pth'})
    plain = build(osp.join(ROOT, 'configs', 'quickstart', 'fcos_groupnet-r18_shapes.py'))
    assert list(model.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(model.state_dict(), strict=True)
    model.eval()
    plain.eval()
    x = torch.randn(1, 3, 64, 64)
    samples = det_samples(BOXES[:1])
    a = model(x, copy.deepcopy(samples), mode='predict')[0].pred_instances
    b = plain(x, copy.deepcopy(samples), mode='predict')[0].pred_instances
    torch.testing.assert_close(a.scores, b.scores)
    assert model._teacher is None


def test_segmentor_student_distils_pixelwise_from_the_fp_segmentor(tmp_path):
    """Any mmseg segmentor: the binary DeepLabV3 quick start against the full-precision one,
    ReActNet's distribution loss applied per pixel to the class logits (``conv_seg``)."""
    pytest.importorskip('mmseg')
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    seg = osp.join(ROOT, 'configs', 'quickstart')
    torch.manual_seed(3)
    teacher = build(osp.join(seg, 'deeplabv3_r18_shapes.py'))
    ckpt = str(tmp_path / 'seg_teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    student_cfg = Config.fromfile(osp.join(seg, 'deeplabv3_groupnet-r18_shapes.py'))
    init_default_scope('mmseg')
    model = ROOT_MODELS.build(dict(
        type='mmbnn.SingleTeacherDistiller', student=copy.deepcopy(student_cfg.model),
        teacher=dict(config='quickstart/deeplabv3_r18_shapes.py', checkpoint=ckpt),
        distill_losses=dict(loss_pixel_kd=dict(type='mmbnn.DistributionLoss',
                                               student='decode_head.conv_seg',
                                               teacher='decode_head.conv_seg'))))
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    samples = []
    for i in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(32, 32), pad_shape=(32, 32),
                                        ori_shape=(32, 32)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 32, 32)))
        samples.append(s)
    losses = model.loss(x, samples)
    assert 'loss_pixel_kd' in losses and 'decode.loss_ce' in losses
    with torch.no_grad():
        zs = model.student.decode_head.forward(model.student.extract_feat(x))
        zt = model.teacher.decode_head.forward(model.teacher.extract_feat(x))
    zs, zt = zs.numpy().astype(np.float64), zt.numpy().astype(np.float64)

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    want = np.mean(np.sum(np.exp(log_softmax(zt)) * (log_softmax(zt) - log_softmax(zs)), axis=1))
    assert losses['loss_pixel_kd'].item() == pytest.approx(want, rel=1e-4)
    assert list(model.state_dict()) == list(ROOT_MODELS.build(
        copy.deepcopy(student_cfg.model)).state_dict())
