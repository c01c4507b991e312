"""The distillation losses against independent NumPy formulas: values and gradients (the student's
only: the teacher's side never gets one), zero at a perfect match, and every argument acting or
refused."""
import numpy as np
import pytest
import torch

from mmbnn.models.distillers import (AttentionTransferLoss, DenseSoftTargetLoss,
                                     DistributionLoss, FeatureMimicLoss)
from mmbnn.registry import MODELS


def t64(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the NumPy function ``f`` at ``x``."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[i] += eps
        lo[i] -= eps
        g[i] = (f(hi) - f(lo)) / (2 * eps)
    return g


# ----------------------------------------------------------------------- ReActNet distribution
@pytest.mark.parametrize('temperature,weight', [(1.0, 1.0), (4.0, 0.5)])
def test_distribution_loss_value_and_gradient(temperature, weight):
    rng = np.random.default_rng(0)
    zs, zt = rng.normal(size=(5, 7)) * 3, rng.normal(size=(5, 7)) * 3
    ps, pt = np_softmax(zs / temperature), np_softmax(zt / temperature)
    want = weight * temperature ** 2 * np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), axis=1))
    # ReActNet's code computes the cross-entropy; the KL differs by the teacher's entropy only
    cross_entropy = np.mean(-np.sum(pt * np.log(ps), axis=1))
    entropy = np.mean(-np.sum(pt * np.log(pt), axis=1))
    assert want == pytest.approx(weight * temperature ** 2 * (cross_entropy - entropy))
    s, t = t64(zs, True), t64(zt, True)
    loss = DistributionLoss(temperature=temperature, loss_weight=weight)(s, t)
    assert loss.item() == pytest.approx(want, rel=1e-10)
    loss.backward()
    np.testing.assert_allclose(s.grad.numpy(), weight * temperature / 5 * (ps - pt), rtol=1e-9,
                               atol=1e-12)
    assert t.grad is None  # the teacher's logits are never differentiated


def test_distribution_loss_is_zero_at_a_match_and_positive_otherwise():
    z = t64(np.random.default_rng(1).normal(size=(4, 3)), True)
    loss = DistributionLoss()(z, z.detach().clone())
    loss.backward()
    assert abs(loss.item()) < 1e-12 and torch.allclose(z.grad, torch.zeros_like(z.grad))
    assert DistributionLoss()(t64([[0., 1.]]), t64([[1., 0.]])).item() > 0


def test_distribution_loss_averages_extra_positions():
    """(N, C, L) logits: classes on dim 1, the mean over N and L."""
    rng = np.random.default_rng(2)
    zs, zt = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    ps, pt = np_softmax(zs), np_softmax(zt)
    want = np.mean(np.sum(pt * np.log(pt / ps), axis=1))
    assert DistributionLoss()(t64(zs), t64(zt)).item() == pytest.approx(want)


def test_distribution_loss_refuses_bad_input():
    with pytest.raises(ValueError, match='temperature'):
        DistributionLoss(temperature=0)
    with pytest.raises(ValueError, match='temperature'):
        DistributionLoss(temperature=True)
    with pytest.raises(ValueError, match='differ in shape'):
        DistributionLoss()(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r'\(N, C'):
        DistributionLoss()(torch.zeros(3), torch.zeros(3))
    with pytest.raises(TypeError, match=r"index: 'name\[0\]'"):
        DistributionLoss()((torch.zeros(2, 3), ), torch.zeros(2, 3))


# ----------------------------------------------------------------------- attention transfer
def np_attention(a):
    q = (a ** 2).sum(axis=1).reshape(a.shape[0], -1)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def np_at_value(students, teachers, p):
    return sum(np.mean(np.sum(np.abs(np_attention(s) - np_attention(t)) ** p, axis=1) ** (1 / p))
               for s, t in zip(students, teachers))


def np_at_grad(a, t, p):
    """Analytic gradient of mean_i ||q(a_i) - q(t_i)||_p in a (see the loss's docstring)."""
    n = a.shape[0]
    big_q = (a ** 2).sum(axis=1).reshape(n, -1)
    norm = np.linalg.norm(big_q, axis=1, keepdims=True)
    q = big_q / norm
    d = q - np_attention(t)
    length = np.sum(np.abs(d) ** p, axis=1, keepdims=True) ** (1 / p)
    g = np.abs(d) ** (p - 1) * np.sign(d) / length ** (p - 1)          # dL/dd
    dq = (g - q * np.sum(q * g, axis=1, keepdims=True)) / norm          # through q = Q / ||Q||
    return 2 * a * dq.reshape(n, 1, *a.shape[2:]) / n                   # Q = sum_c a_c^2


@pytest.mark.parametrize('p', [2.0, 3.0])
def test_attention_transfer_value_and_gradient(p):
    rng = np.random.default_rng(3)
    # two transfer points; the channels differ between student and teacher, H x W match
    students = [rng.normal(size=(3, 4, 5, 5)), rng.normal(size=(3, 8, 2, 3))]
    teachers = [rng.normal(size=(3, 6, 5, 5)), rng.normal(size=(3, 2, 2, 3))]
    s = [t64(x, True) for x in students]
    t = [t64(x, True) for x in teachers]
    loss = AttentionTransferLoss(p=p, loss_weight=0.7)(s, t)
    assert loss.item() == pytest.approx(0.7 * np_at_value(students, teachers, p), rel=1e-10)
    loss.backward()
    for x, a, b in zip(s, students, teachers):
        np.testing.assert_allclose(x.grad.numpy(), 0.7 * np_at_grad(a, b, p), rtol=1e-8,
                                   atol=1e-12)
        # and the analytic NumPy gradient is itself right
        np.testing.assert_allclose(np_at_grad(a, b, p),
                                   numeric_grad(lambda v: np_at_value([v], [b], p), a),
                                   rtol=1e-5, atol=1e-8)
    assert all(x.grad is None for x in t)


def test_attention_transfer_single_map_scale_invariance_and_zero():
    rng = np.random.default_rng(4)
    a = t64(rng.normal(size=(2, 3, 4, 4)), True)
    # the maps are normalised: a teacher with the same pattern at any scale gives 0; the norm of
    # the (rounding-level) difference has a cusp there, and its gradient stays finite
    loss = AttentionTransferLoss()(a, 5 * a.detach())
    loss.backward()
    assert abs(loss.item()) < 1e-7
    assert torch.isfinite(a.grad).all()
    exact = t64(rng.normal(size=(2, 3, 4, 4)), True)
    AttentionTransferLoss()(exact, exact.detach().clone()).backward()
    assert torch.isfinite(exact.grad).all()


def test_attention_transfer_refuses_mismatches():
    with pytest.raises(ValueError, match='same N, H and W'):
        AttentionTransferLoss()(torch.ones(2, 3, 4, 4), torch.ones(2, 3, 2, 2))
    with pytest.raises(ValueError, match='2 student maps but 1 teacher'):
        AttentionTransferLoss()([torch.ones(1, 1, 2, 2)] * 2, [torch.ones(1, 1, 2, 2)])
    with pytest.raises(ValueError, match='p must be >= 1'):
        AttentionTransferLoss(p=0.5)
    with pytest.raises(TypeError, match='sequence of tensors'):
        AttentionTransferLoss()([], [])


# ----------------------------------------------------------------------- FPN feature mimicking
def np_standardize(f):
    return (f - f.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
        f.var(axis=(0, 2, 3), keepdims=True) + 1e-6)


def np_mimic(students, teachers, masks, normalize):
    total, count = 0.0, 0
    for s, t, m in zip(students, teachers, masks):
        if normalize:
            s, t = np_standardize(s), np_standardize(t)
        sq = ((s - t) ** 2).sum(axis=1)
        total += sq[m].sum()
        count += m.sum()
    return total / (2 * max(count, 1))


@pytest.mark.parametrize('normalize', [False, True])
def test_feature_mimic_value_and_gradient(normalize):
    rng = np.random.default_rng(5)
    shapes = [(2, 3, 4, 4), (2, 3, 2, 2)]  # two levels
    students = [rng.normal(size=s) for s in shapes]
    teachers = [rng.normal(size=s) * 3 + 1 for s in shapes]
    masks = [rng.random((s[0], ) + s[2:]) < 0.4 for s in shapes]
    masks[1][:] = False
    masks[1][0, 1, 1] = True
    s = [t64(x, True) for x in students]
    t = [t64(x, True) for x in teachers]
    loss = FeatureMimicLoss(normalize=normalize, loss_weight=2.0)(
        s, t, [torch.from_numpy(m) for m in masks])
    assert loss.item() == pytest.approx(2 * np_mimic(students, teachers, masks, normalize),
                                        rel=1e-9)
    loss.backward()
    count = sum(m.sum() for m in masks)
    for lvl, x in enumerate(s):
        if normalize:  # independent reference: central differences of the NumPy formula
            def f(v, lvl=lvl):
                levels = list(students)
                levels[lvl] = v
                return np_mimic(levels, teachers, masks, True)
            want = 2 * numeric_grad(f, students[lvl])
        else:  # d/ds of (s - t)^2 / (2 N_p) on the mask
            want = 2 * masks[lvl][:, None] * (students[lvl] - teachers[lvl]) / count
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5, atol=1e-8)
    assert all(x.grad is None for x in t)


def test_feature_mimic_without_mask_averages_every_location():
    rng = np.random.default_rng(6)
    s, t = rng.normal(size=(2, 4, 3, 3)), rng.normal(size=(2, 4, 3, 3))
    want = ((s - t) ** 2).sum() / (2 * 2 * 3 * 3)
    assert FeatureMimicLoss()(t64(s), t64(t)).item() == pytest.approx(want)
    # a mask with no location gives 0, not a division by zero
    empty = [torch.zeros(2, 3, 3, dtype=torch.bool)]
    assert FeatureMimicLoss()(t64(s), t64(t), empty).item() == 0


def test_feature_mimic_refuses_mismatches():
    with pytest.raises(ValueError, match='same'):
        FeatureMimicLoss()(torch.ones(1, 2, 3, 3), torch.ones(1, 3, 3, 3))
    with pytest.raises(ValueError, match='1 masks for 2 levels'):
        FeatureMimicLoss()([torch.ones(1, 2, 3, 3)] * 2, [torch.ones(1, 2, 3, 3)] * 2,
                           [torch.ones(1, 3, 3, dtype=torch.bool)])
    with pytest.raises(ValueError, match='mask of level 0'):
        FeatureMimicLoss()(torch.ones(1, 2, 3, 3), torch.ones(1, 2, 3, 3),
                           [torch.ones(1, 2, 2, dtype=torch.bool)])
    with pytest.raises(TypeError, match='normalize'):
        FeatureMimicLoss(normalize=1)


# ----------------------------------------------------------------------- dense soft targets
def np_soft_targets(students, teachers, masks, temperature, wp, wn):
    pos = neg = 0.0
    npos = nneg = 0
    for s, t, m in zip(students, teachers, masks):
        p, q = np_sigmoid(s / temperature), np_sigmoid(t / temperature)
        d = (q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))).sum(axis=1)
        pos += d[m].sum()
        neg += d[~m].sum()
        npos += m.sum()
        nneg += (~m).sum()
    return temperature ** 2 * (wp * pos / max(npos, 1) + wn * neg / max(nneg, 1))


@pytest.mark.parametrize('temperature,wp,wn', [(1.0, 1.0, 1.0), (2.0, 3.0, 0.25)])
def test_dense_soft_target_value_and_gradient(temperature, wp, wn):
    rng = np.random.default_rng(7)
    shapes = [(2, 3, 4, 4), (2, 3, 2, 2)]
    students = [rng.normal(size=s) * 2 for s in shapes]
    teachers = [rng.normal(size=s) * 2 for s in shapes]
    masks = [rng.random((s[0], ) + s[2:]) < 0.3 for s in shapes]
    s = [t64(x, True) for x in students]
    t = [t64(x, True) for x in teachers]
    loss = DenseSoftTargetLoss(temperature=temperature, pos_weight=wp, neg_weight=wn,
                               loss_weight=0.5)(s, t, [torch.from_numpy(m) for m in masks])
    want = 0.5 * np_soft_targets(students, teachers, masks, temperature, wp, wn)
    assert loss.item() == pytest.approx(want, rel=1e-9)
    loss.backward()
    npos = sum(m.sum() for m in masks)
    nneg = sum((~m).sum() for m in masks)
    for x, a, b, m in zip(s, students, teachers, masks):
        w = np.where(m, wp / npos, wn / nneg)[:, None]
        grad = 0.5 * temperature * w * (np_sigmoid(a / temperature) - np_sigmoid(b / temperature))
        np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-9, atol=1e-12)
    assert all(x.grad is None for x in t)


def test_dense_soft_target_is_zero_at_a_match_and_stable_for_large_logits():
    z = t64(np.array([[[[40.0, -40.0]], [[0.0, 3.0]]]]), True)  # (1, 2, 1, 2)
    mask = [torch.tensor([[[True, False]]])]
    loss = DenseSoftTargetLoss()(z, z.detach().clone(), mask)
    loss.backward()
    assert abs(loss.item()) < 1e-12 and torch.isfinite(z.grad).all()
    assert z.grad.abs().max() < 1e-12


def test_dense_soft_target_needs_positives_and_checks_arguments():
    x = torch.zeros(1, 2, 2, 2)
    with pytest.raises(TypeError, match="mask='positives'"):
        DenseSoftTargetLoss()(x, x, None)
    with pytest.raises(ValueError, match='1 student levels, 1 teacher levels, 2 masks'):
        DenseSoftTargetLoss()(x, x, [torch.zeros(1, 2, 2, dtype=torch.bool)] * 2)
    with pytest.raises(ValueError, match='mask of level 0'):
        DenseSoftTargetLoss()(x, x, [torch.zeros(2, 2, 2, dtype=torch.bool)])
    with pytest.raises(ValueError, match='pos_weight'):
        DenseSoftTargetLoss(pos_weight=-1)
    with pytest.raises(ValueError, match='neg_weight'):
        DenseSoftTargetLoss(neg_weight='1')


@pytest.mark.parametrize('name', ['DistributionLoss', 'AttentionTransferLoss',
                                  'FeatureMimicLoss', 'DenseSoftTargetLoss'])
def test_losses_are_registered(name):
    loss = MODELS.build(dict(type=f'mmbnn.{name}', loss_weight=0.25))
    assert type(loss).__name__ == name and loss.loss_weight == 0.25
    assert 'loss_weight=0.25' in repr(loss)
