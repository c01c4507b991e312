"""Tests of the sparse weight binarizers (generalised binary domain, pruned +-1), the budget
penalty (SparseBudgetLoss), the model walkers and SparsityHook, and the cost model.

Forward values, gradients, fits, the penalty and the costs are compared with independent NumPy
or math formulas written here (nothing of mmbnn computes an expected value).
"""
import math
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from mmbnn.analysis.sparse_cost import layer_sparsity, mask_bits, model_sparsity
from mmbnn.binarizers import build_binarizer
from mmbnn.binarizers.sparse import (SparseBinaryWeight, check_ec, fit_sparse_domain,
                                     top_k_mask)
from mmbnn.engine.sparse_layers import (active_fraction, budget_ec, budget_fraction,
                                        sparse_binarizers, sparse_layers)
from mmbnn.engine.latent_clamp_hook import LatentClampHook
from mmbnn.engine.sparsity_hook import SparsityHook, ec_schedule
from mmbnn.layers import BinaryConv2d, BinaryLinear
from mmbnn.models.sparse_budget import SBNN_GAMMA, SparseBudgetLoss, sbnn_gamma
from mmbnn.registry import HOOKS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: 0, +-1, values between and |x| > 1 (distinct, so that the top-k sets are unambiguous).
X = np.array([-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5, 3.0])
#: the same with distinct magnitudes, for magnitude pruning
XP = np.array([-2.0, -1.0, -0.5, 0.0, 0.3, 1.2, 1.5, 3.0])
DTYPES = [torch.float64, torch.float32]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}
QUANTILE = dict(threshold='quantile', init='fit', clamp=None)


# ----------------------------------------------------------------------------- NumPy references
def np_k(n, ec, max_active=1.0):
    return min(max(int(round(min(ec, max_active) * n)), 1), n)


def np_kth_largest(x, k):
    return np.sort(x.ravel())[::-1][k - 1]


def np_ede_grad(x, p, t_min=0.1, t_max=10.0):
    t = t_min * (t_max / t_min) ** p
    k = max(1.0 / t, 1.0)
    return k * t * (1 - np.tanh(t * x) ** 2)


def np_sbnn(x, ec, tau, phi, g, gradient, p, threshold):
    """q, dL/dx, dL/dtau, dL/dphi of L = sum(g q) for the generalised domain."""
    if threshold == 'sign':  # the official code's value path: torch.sign, 0 at 0
        delta, s = 0.0, np.sign(x)
    else:
        delta = np_kth_largest(x, np_k(x.size, ec, 0.5))
        s = np.where(x >= delta, 1.0, -1.0)
    ds = np.ones_like(x) if gradient == 'identity' else np_ede_grad(x - delta, p)
    return tau * s + phi, g * tau * ds, (g * s).sum(), g.sum()


def np_pruned(x, ec, tau, g, gradient, p):
    """q, dL/dx, dL/dtau of L = sum(g q) for pruned sign weights."""
    delta = np_kth_largest(np.abs(x), np_k(x.size, ec))
    m = (np.abs(x) >= delta) * 1.0
    s = np.where(x >= 0, 1.0, -1.0)
    ds = np.ones_like(x) if gradient == 'identity' else np_ede_grad(x, p)
    return tau * s * m, g * tau * ds, (g * s * m).sum()


def np_fit(w, active):
    """Least squares given the active set: the two means."""
    top, rest = w[active], w[~active]
    return (top.mean() - rest.mean()) / 2, (top.mean() + rest.mean()) / 2


def np_official_penalty(active, total, ec, gamma, ce, tol=1e-4):
    """The official code's lines (CIFAR-10/main_learn.py), in plain floats."""
    h = 0.0 if ec == 0.5 else max(active / total - ec, 0.0)
    lam = 0.0 if h <= tol else gamma * ce / (h * (1 - gamma))
    return lam * h, lam


def make(cfg, tau, phi=None, dtype=torch.float64, progress=None):
    """A binarizer with tau (and phi) set by hand (init='unit' or already fitted)."""
    b = build_binarizer(cfg).to(dtype)
    if getattr(b, 'init', 'fit') == 'fit':
        b.fit(torch.linspace(-1, 1, 8, dtype=dtype))
    with torch.no_grad():
        b.tau.fill_(tau)
        if phi is not None:
            b.phi.fill_(phi)
    if progress is not None:
        b.set_progress(progress)
    return b


def run(b, x_np, dtype, seed=0):
    x = torch.tensor(x_np, dtype=dtype, requires_grad=True)
    q = b(x)
    g = torch.randn(q.shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    (q * g).sum().backward()
    return q.detach().numpy(), x.grad.numpy(), g.numpy()


# ------------------------------------------------------------------ values and gradients (table)
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('threshold', ['sign', 'quantile'])
@pytest.mark.parametrize('ec', [0.05, 0.25, 0.5, 1.0])
@pytest.mark.parametrize('gradient,progress', [('identity', None), ('ede', 0.0), ('ede', 0.5),
                                               ('ede', 1.0)])
@pytest.mark.parametrize('shape', [X.shape, (4, 3, 3, 3)], ids=['table', 'conv'])
def test_sbnn_value_and_gradients(shape, gradient, progress, ec, threshold, dtype):
    x = X if shape == X.shape else np.random.default_rng(1).normal(size=shape)
    b = make(dict(type='SparseBinaryWeight', ec=ec, gradient=gradient, threshold=threshold,
                  init='fit' if threshold == 'quantile' else 'unit'),
             0.7, 0.2, dtype=dtype, progress=progress)
    q, dx, g = run(b, x, dtype)
    eq, edx, edtau, edphi = np_sbnn(x, ec, 0.7, 0.2, g, gradient, progress, threshold)
    np.testing.assert_allclose(q, eq, **TOL[dtype])
    np.testing.assert_allclose(dx, edx, **TOL[dtype])
    np.testing.assert_allclose(b.tau.grad.item(), edtau, **TOL[dtype])
    np.testing.assert_allclose(b.phi.grad.item(), edphi, **TOL[dtype])


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('ec', [0.05, 0.25, 0.5, 1.0])
@pytest.mark.parametrize('gradient,progress', [('identity', None), ('ede', 0.0), ('ede', 1.0)])
@pytest.mark.parametrize('shape', [X.shape, (4, 3, 3, 3)], ids=['table', 'conv'])
def test_pruned_value_and_gradients(shape, gradient, progress, ec, dtype):
    x = XP if shape == X.shape else np.random.default_rng(2).normal(size=shape)
    b = make(dict(type='PrunedSignWeight', ec=ec, gradient=gradient), 0.7, dtype=dtype,
             progress=progress)
    q, dx, g = run(b, x, dtype)
    eq, edx, edtau = np_pruned(x, ec, 0.7, g, gradient, progress)
    np.testing.assert_allclose(q, eq, **TOL[dtype])
    np.testing.assert_allclose(dx, edx, **TOL[dtype])
    np.testing.assert_allclose(b.tau.grad.item(), edtau, **TOL[dtype])


def test_table_cases_by_hand():
    """Written out: sign mode is torch.sign(w) (0 -> 0: the value phi) whatever the EC;
    quantile mode at EC 0.25 (k = 2 of 8) makes the two largest active; pruned at EC 0.5 keeps
    the 4 largest |w|."""
    b = make(dict(type='SparseBinaryWeight', ec=0.05), 1.0, 0.5)
    assert b(torch.tensor(X)).tolist() == [-0.5, -0.5, -0.5, 0.5, 1.5, 1.5, 1.5, 1.5]
    b = make(dict(type='SparseBinaryWeight', ec=0.25, **QUANTILE), 1.0, 0.5)
    assert b(torch.tensor(X)).tolist() == [-0.5, -0.5, -0.5, -0.5, -0.5, -0.5, 1.5, 1.5]
    p = make(dict(type='PrunedSignWeight', ec=0.5), 1.0)
    assert p(torch.tensor(XP)).tolist() == [-1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert make(dict(type='PrunedSignWeight', ec=1.0), 1.0)(torch.tensor(X))[3].item() == 1.0


def test_defaults_are_the_official_code():
    b = build_binarizer(dict(type='SparseBinaryWeight'))
    assert (b.ec, b.threshold, b.init, b.clamp, b.gradient) == (0.1, 'sign', 'unit', 1.5, 'ede')
    assert (b.tau.item(), b.phi.item()) == (1.0, 0.0) and b.uses_budget
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(b(w), torch.where(w >= 0, 1.0, -1.0))  # plain +-1 at the start
    assert (b.tau.item(), b.phi.item()) == (1.0, 0.0)  # 'unit' never fits
    assert not build_binarizer(dict(type='SparseBinaryWeight', **QUANTILE)).uses_budget
    assert not build_binarizer(dict(type='PrunedSignWeight')).uses_budget


@pytest.mark.parametrize('cfg', [dict(type='SparseBinaryWeight', ec=0.25, **QUANTILE),
                                 dict(type='PrunedSignWeight', ec=0.25)])
def test_ties_never_exceed_k(cfg):
    """Latent weights clamped at a bound tie; exactly k stay active."""
    w = torch.tensor([1.5, 1.5, 1.5, 1.5, 0.2, -0.1, -1.5, -1.5], dtype=torch.float64)
    b = build_binarizer(cfg).double()
    q = b(w)
    assert int(b.active_mask(w).sum()) == 2
    mask, delta = top_k_mask(w.abs() if cfg['type'] == 'PrunedSignWeight' else w, 2)
    assert int(mask.sum()) == 2 and delta.item() == 1.5
    if cfg['type'] == 'SparseBinaryWeight':
        assert (q == b.phi + b.tau).sum().item() == 2
    else:
        assert (q != 0).sum().item() == 2


def test_pruned_gradient_reaches_pruned_weights():
    b = make(dict(type='PrunedSignWeight', ec=0.25), 2.0)
    x = torch.tensor(X, requires_grad=True)
    b(x).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 2.0))


# ------------------------------------------------------------------------- closed-form fit
@pytest.mark.parametrize('ec', [0.01, 0.05, 0.1, 0.25, 0.5, 1.0])
def test_closed_form_fit_against_numpy(ec):
    w = np.random.default_rng(3).normal(0.1, 0.5, size=(16, 8, 3, 3))
    tau, phi, delta = fit_sparse_domain(torch.tensor(w), ec)
    k = np_k(w.size, ec, 0.5)
    flat = np.sort(w.ravel())[::-1]
    e_tau, e_phi = np_fit(flat, np.arange(flat.size) < k)
    np.testing.assert_allclose([tau.item(), phi.item()], [e_tau, e_phi], rtol=1e-12)
    assert delta.item() == np_kth_largest(w, k)

    # it is the least-squares optimum: no other (tau, phi) nor other split of k does better
    def err(t, f, top):
        s = np.where(np.isin(np.arange(flat.size), top), 1.0, -1.0)
        return ((flat - (f + t * s)) ** 2).sum()

    best = err(e_tau, e_phi, np.arange(k))
    rng = np.random.default_rng(4)
    for _ in range(20):
        assert best <= err(e_tau + rng.normal(0, .05), e_phi + rng.normal(0, .05),
                           np.arange(k)) + 1e-12
        other = rng.choice(flat.size, k, replace=False)
        o_tau, o_phi = np_fit(flat, np.isin(np.arange(flat.size), other))
        assert best <= err(o_tau, o_phi, other) + 1e-12


@pytest.mark.parametrize('threshold', ['sign', 'quantile'])
def test_init_fit_is_lazy_once_and_kept_by_checkpoints(threshold):
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = build_binarizer(dict(type='SparseBinaryWeight', ec=0.1, threshold=threshold,
                             init='fit')).double()
    assert not b.fitted
    b(w)
    assert b.fitted
    flat = w.numpy().ravel()
    active = flat >= (0.0 if threshold == 'sign' else np_kth_largest(flat, np_k(w.numel(), .1)))
    np.testing.assert_allclose([b.tau.item(), b.phi.item()], np_fit(flat, active), rtol=1e-12)
    with torch.no_grad():
        b.tau.fill_(3.0)
    b(w * 5)  # fitted already: learned values are kept
    assert b.tau.item() == 3.0
    fresh = build_binarizer(dict(type='SparseBinaryWeight', ec=0.1, threshold=threshold,
                                 init='fit')).double()
    fresh.load_state_dict(b.state_dict())
    fresh(w)  # a loaded checkpoint is never refitted
    assert fresh.tau.item() == 3.0 and fresh.fitted


def test_pruned_fit():
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = build_binarizer(dict(type='PrunedSignWeight', ec=0.1)).double()
    b(w)
    a = np.abs(w.numpy()).ravel()
    np.testing.assert_allclose(b.tau.item(), np.sort(a)[::-1][:np_k(a.size, 0.1)].mean(),
                               rtol=1e-12)


# ------------------------------------------------------------------ binary and sparse parts
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('cfg', [dict(type='SparseBinaryWeight', ec=ec, **QUANTILE)
                                 for ec in (0.05, 0.3, 1.0)] +
                         [dict(type='PrunedSignWeight', ec=ec) for ec in (0.05, 0.3, 1.0)] +
                         [dict(type='SparseBinaryWeight', ec=0.1)],
                         ids=lambda c: f'{c["type"]}-{c["ec"]}-{c.get("threshold", "")}')
@pytest.mark.parametrize('shape', [(8, 4, 3, 3), (5, 7)])
def test_parts_rebuild_forward_exactly(cfg, shape, dtype):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    b = build_binarizer(cfg).to(dtype)
    sign_mode = cfg['type'] == 'SparseBinaryWeight' and 'threshold' not in cfg
    if not sign_mode:
        w.view(-1)[0] = 0.0  # one exact zero (sign(0) = +1)
    q = b(w)
    signs, scale, offset = b.binary_parts(w)
    assert set(signs.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(signs * scale + (offset if offset is not None else 0), q)
    signs, mask, scale, offset = b.sparse_parts(w)
    assert scale.numel() == 1  # one scale per layer: never a full-size tensor
    rebuilt = signs * scale * (mask.to(dtype) if mask is not None else 1)
    assert torch.equal(rebuilt + (offset if offset is not None else 0), q)
    active = b.active_mask(w)
    if mask is not None:  # pruned: the mask is the active set, pruned signs are +1
        assert torch.equal(mask, active) and bool((signs[~mask] == 1).all())
    else:  # generalised: the signs are the active set
        assert torch.equal(signs == 1, active)
    if cfg.get('threshold') == 'quantile' or cfg['type'] == 'PrunedSignWeight':
        assert int(active.sum()) == np_k(w.numel(), cfg['ec'], b.max_active)
    else:
        assert torch.equal(active, w > 0)


def test_sign_threshold_treats_zero_as_the_authors():
    """SBNN's official code (``CIFAR-10/ir_1w1a_learn.py``): the budget counts a weight active
    where ``2 (w > 0) - 1`` is +1, so w = 0 is inactive; the value path uses ``torch.sign``,
    so w = 0 takes the value ``tau * 0 + phi = phi``. One exact 0 no 1-bit code holds: the parts
    refuse it, and packing keeps the layer in full precision."""
    b = make(dict(type='SparseBinaryWeight', ec=0.1, gradient='identity'), 0.7, 0.2)
    w = torch.tensor([-1.0, 0.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    q = b(w)
    assert q.tolist() == pytest.approx([-0.5, 0.2, 0.2, 0.9])
    q.sum().backward()
    assert w.grad.tolist() == pytest.approx([0.7] * 4)  # tau times the identity estimator
    assert b.active_mask(w).tolist() == [False, False, False, True]
    assert b.budget_count(w).item() == 1.0
    with pytest.raises(ValueError, match='exactly 0'):
        b.binary_parts(w)
    # the quantile mode (ours) keeps sign(0) = +1 at its threshold
    quantile = make(dict(type='SparseBinaryWeight', ec=0.5, **QUANTILE), 1.0, 0.0)
    assert quantile(torch.tensor([-1.0, 0.0, 2.0, -3.0])).tolist() == [-1.0, 1.0, 1.0, -1.0]


# ------------------------------------------------------------------------- budget penalty
def test_budget_count_value_and_gradient():
    """0.5 sum((2 (w > 0) - 1) + 1): the number of w > 0 (w = 0 inactive), gradient 1/2 for
    every weight (the official code's identity straight-through sign), whatever the EDE
    state."""
    b = build_binarizer(dict(type='SparseBinaryWeight', gradient='ede'))
    b.set_progress(1.0)
    w = torch.tensor(X, requires_grad=True)
    count = b.budget_count(w)
    assert count.item() == (X > 0).sum()
    count.backward()
    assert torch.equal(w.grad, torch.full_like(w, 0.5))


@pytest.mark.parametrize('active,ec,gamma,ce', [
    (0.30, 0.1, 0.04, 0.9),    # over budget
    (0.10005, 0.1, 0.04, 0.9),  # within the official 1e-4 of the budget: no penalty
    (0.05, 0.1, 0.04, 0.9),    # under budget: one-sided
    (0.45, 0.05, 0.07, 2.3),
    (0.6, 0.5, 0.0, 1.0),      # EC 0.5: the dense domain, no penalty
    (0.2, 0.25, 0.02, 0.4)])
def test_budget_loss_is_the_official_formula(active, ec, gamma, ce):
    total = 10000
    a = torch.tensor(active * total, dtype=torch.float64, requires_grad=True)
    penalty, lam = SparseBudgetLoss(gamma=gamma)(a / total, ec,
                                                 torch.tensor(ce, dtype=torch.float64))
    e_penalty, e_lam = np_official_penalty(active * total, total, ec, gamma, ce)
    assert penalty.item() == pytest.approx(e_penalty, rel=1e-9, abs=1e-15)
    assert lam.item() == pytest.approx(e_lam, rel=1e-9)
    if e_lam:  # the penalty is gamma / (1 - gamma) of the task loss
        assert penalty.item() == pytest.approx(gamma / (1 - gamma) * ce, rel=1e-9)
    penalty.backward()
    assert a.grad.item() == pytest.approx(e_lam / total, rel=1e-9)  # lambda: no gradient


def test_budget_gamma_table():
    assert [sbnn_gamma(ec) for ec in (0.25, 0.1, 0.05, 0.01)] == [0.02, 0.04, 0.07, 0.10]
    assert SparseBudgetLoss().gamma_for(0.1) == 0.04 and SBNN_GAMMA[0.5] == 0.0
    assert SparseBudgetLoss(gamma=0.3).gamma_for(0.17) == 0.3
    with pytest.raises(ValueError, match=r'not for EC 0.17: set gamma explicitly'):
        SparseBudgetLoss().gamma_for(0.17)
    # the gamma of the final target is used while a warm-up moves the EC
    loss = SparseBudgetLoss()
    penalty, _ = loss(torch.tensor(0.5), 0.3, torch.tensor(1.0), target_ec=0.05)
    assert penalty.item() == pytest.approx(0.07 / 0.93)


@pytest.mark.parametrize('kwargs,match', [
    (dict(gamma=1.0), r'gamma .* must be in \[0, 1\)'), (dict(gamma=-0.1), 'gamma'),
    (dict(gamma=True), 'gamma'), (dict(tolerance=-1), 'tolerance')])
def test_budget_loss_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SparseBudgetLoss(**kwargs)


def conv_net(*cfgs):
    layers = []
    for i, cfg in enumerate(cfgs):
        layers.append(BinaryConv2d(4 if i else 3, 4, 3, padding=1, weight_binarizer=cfg))
    return nn.Sequential(*layers)


def test_budget_fraction_and_ec_over_layers():
    net = nn.Sequential(BinaryConv2d(3, 4, 3, weight_binarizer=dict(type='SparseBinaryWeight',
                                                                    ec=0.1)),
                        BinaryConv2d(4, 8, 3, weight_binarizer=dict(type='SparseBinaryWeight',
                                                                    ec=0.25)))
    layers = list(net)
    n = [m.weight.numel() for m in layers]
    expected = sum(float((m.weight >= 0).sum()) for m in layers) / sum(n)
    frac = budget_fraction(layers)
    assert frac.item() == pytest.approx(expected)
    frac.backward()
    for m in layers:
        assert torch.allclose(m.weight.grad, torch.full_like(m.weight, 0.5 / sum(n)))
    assert budget_ec(layers) == pytest.approx((0.1 * n[0] + 0.25 * n[1]) / sum(n))
    layers[1].weight_binarizer.set_current_ec(0.9)  # capped at the dense 0.5
    assert budget_ec(layers) == pytest.approx((0.1 * n[0] + 0.5 * n[1]) / sum(n))


# ------------------------------------------------------------------------------ cost model
def test_mask_bits_is_log2_binomial():
    for n, k in ((10, 3), (1152, 115), (64, 64), (64, 32)):
        assert mask_bits(n, k) == pytest.approx(math.log2(math.comb(n, k)), abs=1e-6)


@pytest.mark.parametrize('groups', [1, 2])
def test_layer_sparsity_stats(groups):
    conv = BinaryConv2d(8, 16, 3, padding=1, groups=groups,
                        weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1, **QUANTILE))
    conv(torch.randn(2, 8, 5, 5)).sum().backward()
    n = conv.weight.numel()
    k = np_k(n, 0.1)
    stats = layer_sparsity(conv)
    assert stats['weights'] == n and stats['active'] == k
    assert stats['sparse_bits'] == pytest.approx(math.log2(math.comb(n, k)))
    assert stats['mac_fraction'] == pytest.approx(k / n + groups / 16)
    pruned = BinaryLinear(32, 4, weight_binarizer=dict(type='PrunedSignWeight', ec=0.25))
    s = layer_sparsity(pruned)
    assert s['active'] == 32 and s['mac_fraction'] == 0.25
    assert s['sparse_bits'] == pytest.approx(math.log2(math.comb(128, 32)) + 32)
    assert layer_sparsity(BinaryConv2d(2, 2, 1)) is None  # XNOR weights: dense
    for cfg in (dict(type='SparseBinaryWeight', ec=0.5), dict(type='PrunedSignWeight', ec=1.0)):
        dense = BinaryConv2d(8, 16, 3, weight_binarizer=cfg)  # the dense setting of each domain
        stats = layer_sparsity(dense)
        assert stats['mac_fraction'] == 1.0
        if cfg['type'] == 'PrunedSignWeight':
            assert stats['sparse_bits'] == pytest.approx(dense.weight.numel())  # n sign bits


def test_sign_mode_cost_counts_the_rarer_value():
    """A budget layer left with more than half of its weights at +1 is computed through the
    complement: min(k, n - k) / n of the MACs, and log2 C(n, k) bits either way."""
    conv = BinaryConv2d(8, 16, 3, weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1))
    with torch.no_grad():
        conv.weight.copy_(torch.linspace(-0.3, 1.0, conv.weight.numel()).view_as(conv.weight))
    n = conv.weight.numel()
    k = int((conv.weight >= 0).sum())
    assert k > n / 2
    stats = layer_sparsity(conv)
    assert stats['active'] == k and stats['active_fraction'] == k / n
    assert stats['mac_fraction'] == pytest.approx((n - k) / n + 1 / 16)
    assert stats['sparse_bits'] == pytest.approx(math.log2(math.comb(n, k)))


def test_model_sparsity_totals():
    net = conv_net(dict(type='SparseBinaryWeight', ec=0.25, **QUANTILE),
                   dict(type='PrunedSignWeight', ec=0.1))
    net.append(BinaryConv2d(4, 4, 1))  # XNOR: not sparse, not counted
    s = model_sparsity(net)
    assert list(s['layers']) == ['0', '1']
    n0, n1 = net[0].weight.numel(), net[1].weight.numel()
    k0, k1 = np_k(n0, 0.25), np_k(n1, 0.1)
    bits = math.log2(math.comb(n0, k0)) + math.log2(math.comb(n1, k1)) + k1
    assert s['weights'] == n0 + n1 and s['active'] == k0 + k1
    assert s['bits_per_weight'] == pytest.approx(bits / (n0 + n1))
    assert active_fraction(net) == pytest.approx((k0 + k1) / (n0 + n1))


# ------------------------------------------------------------------------- walkers and hook
def test_groupnet_backbone_takes_it_through_conv_cfg():
    from mmbnn.models.backbones import GroupNetResNet
    net = GroupNetResNet(depth=18, num_bases=2, stem='cifar', stem_channels=8, base_channels=8,
                         conv_cfg=dict(type='mmbnn.BinaryConv2d',
                                       act_binarizer=dict(type='ApproxSign'),
                                       weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1,
                                                             **QUANTILE)))
    net(torch.randn(2, 3, 8, 8))[-1].sum().backward()
    found = sparse_binarizers(net)
    assert len(found) == len(sparse_layers(net)) == 16 + 3  # 3x3 convs and binary downsamples
    assert found[0][0].endswith('.weight_binarizer')
    assert active_fraction(net) == pytest.approx(0.1, abs=0.01)
    for name, b in found:
        assert b.tau.grad is not None and b.phi.grad is not None, name


def test_ede_hook_anneals_sparse_binarizers():
    net = nn.Sequential(BinaryConv2d(2, 4, 3, weight_binarizer=dict(
        type='SparseBinaryWeight', ec=0.1, gradient='ede')))
    HOOKS.build(dict(type='EDEHook')).before_train_iter(
        SimpleNamespace(model=net, iter=5, max_iters=10), batch_idx=0)
    assert net[0].weight_binarizer.t.item() == pytest.approx(1.0)  # 0.1 * 100^0.5


def test_ec_schedule():
    assert ec_schedule(0.0, 0.1, warmup=0.5) == 1.0
    assert ec_schedule(0.25, 0.1, warmup=0.5) == pytest.approx(0.1 + 0.9 * 0.5 ** 3)
    assert ec_schedule(0.5, 0.1, warmup=0.5) == 0.1 and ec_schedule(1.0, 0.1, warmup=0.5) == 0.1
    assert ec_schedule(0.0, 0.1) == 0.1  # no warm-up by default


class Toy(nn.Module):
    """Two binary convs, BN, a real classifier; mmengine's forward signature."""

    def __init__(self, cfg1, cfg2):
        super().__init__()
        self.conv1 = BinaryConv2d(3, 16, 3, padding=1, weight_binarizer=cfg1)
        self.bn = nn.BatchNorm2d(16)
        self.conv2 = BinaryConv2d(16, 16, 3, padding=1, weight_binarizer=cfg2)
        self.fc = nn.Linear(16, 2)

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.fc(self.conv2(self.bn(self.conv1(inputs))).mean((2, 3)))
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(logits, labels))
        return logits


def base_model(cfg1, cfg2):
    from mmengine.model import BaseModel

    class Model(BaseModel):

        def __init__(self):
            super().__init__()
            self.net = Toy(cfg1, cfg2)

        def forward(self, inputs, labels=None, mode='tensor'):
            return self.net(inputs, labels, mode)

    return Model()


def test_hook_adds_the_budget_to_the_loss_dict():
    """In mode='loss' the model's loss dict gains loss_sparsity (the official formula from the
    CE and the active fraction) and sparsity_lambda; its gradient on every latent weight is
    lambda / (2 n); nothing is added in eval mode or after training."""
    model = base_model(dict(type='SparseBinaryWeight', ec=0.05),
                       dict(type='SparseBinaryWeight', ec=0.05))
    hook = SparsityHook()
    runner = SimpleNamespace(model=model, iter=0, max_iters=4, hooks=[LatentClampHook(), hook])
    hook.before_train(runner)
    x = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1])
    losses = model(x, y, mode='loss')
    ce = losses['loss'].item()
    layers = [model.net.conv1, model.net.conv2]
    n = sum(m.weight.numel() for m in layers)
    active = sum(int((m.weight >= 0).sum()) for m in layers)
    e_penalty, e_lam = np_official_penalty(active, n, 0.05, 0.07, ce)
    assert e_lam > 0 and losses['loss_sparsity'].item() == pytest.approx(e_penalty, rel=1e-5)
    assert losses['sparsity_lambda'].item() == pytest.approx(e_lam, rel=1e-5)
    parsed, log_vars = model.parse_losses(losses)  # the Runner's sum: CE + penalty
    assert parsed.item() == pytest.approx(ce + e_penalty, rel=1e-6)
    assert 'sparsity_lambda' in log_vars
    losses['loss_sparsity'].backward()
    for m in layers:
        torch.testing.assert_close(m.weight.grad, torch.full_like(m.weight, e_lam / (2 * n)))
    model.eval()
    assert set(model(x, y, mode='loss')) == {'loss'}
    model.train()
    hook.after_train(runner)
    assert set(model(x, y, mode='loss')) == {'loss'}  # the forward hook is removed


def test_budget_makes_a_network_sparse_in_a_runner(tmp_path):
    """Trained by the Runner with the hook, a toy whose loss needs few weights goes from the
    +-1 start (about half active) towards its budget; the latent weights stay within the
    clamp; the log has the penalty, lambda and the active fraction."""
    from mmengine.runner import Runner

    torch.manual_seed(0)
    model = base_model(dict(type='SparseBinaryWeight', ec=0.1, clamp=0.05),
                       dict(type='SparseBinaryWeight', ec=0.1, clamp=0.05))
    start = active_fraction(model)
    gen = torch.Generator().manual_seed(0)
    data = [dict(inputs=torch.randn(3, 4, 4, generator=gen), labels=i % 2) for i in range(32)]
    runner = Runner(
        model=model, work_dir=str(tmp_path),
        train_dataloader=dict(dataset=data, batch_size=8, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=40, val_interval=1000),
        custom_hooks=[dict(type='mmbnn.LatentClampHook'),
                      dict(type='mmbnn.SparsityHook',
                           budget_loss=dict(type='mmbnn.SparseBudgetLoss', gamma=0.5))],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1), checkpoint=None),
        randomness=dict(seed=0), log_level='WARNING')
    runner.train()
    end = active_fraction(model)
    print('active fraction', start, '->', end)
    assert 0.4 < start < 0.6 and end < 0.25, (start, end)
    for m in (model.net.conv1, model.net.conv2):
        assert m.weight.abs().max() <= torch.tensor(0.05)  # in the weights' float32
    hub = runner.message_hub
    assert hub.get_scalar('train/active_fraction').data[0][-1] == pytest.approx(end)
    assert len(hub.get_scalar('train/loss_sparsity').data[0]) == 40
    assert max(hub.get_scalar('train/sparsity_lambda').data[0]) > 0


def test_quantile_layers_reach_ec_with_the_schedule(tmp_path):
    """Quantile and pruned layers meet the (annealed) EC exactly at every iteration and after
    training; no penalty is added."""
    from mmengine.runner import Runner

    seen = []
    model = base_model(dict(type='SparseBinaryWeight', ec=0.2, **QUANTILE),
                       dict(type='PrunedSignWeight', ec=0.05))
    net = model.net
    forward = net.forward

    def spy(*args, **kwargs):
        seen.append(active_fraction(net))
        return forward(*args, **kwargs)

    net.forward = spy
    gen = torch.Generator().manual_seed(0)
    data = [dict(inputs=torch.randn(3, 6, 6, generator=gen), labels=i % 2) for i in range(16)]
    runner = Runner(
        model=model, work_dir=str(tmp_path),
        train_dataloader=dict(dataset=data, batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=12, val_interval=100),
        custom_hooks=[dict(type='mmbnn.SparsityHook', budget_loss=None, warmup=0.5)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1), checkpoint=None),
        log_level='WARNING')
    runner.train()
    n1, n2 = net.conv1.weight.numel(), net.conv2.weight.numel()
    expected = [(np_k(n1, min(ec_schedule(i / 12, 0.2, warmup=0.5), 0.5)) +
                 np_k(n2, ec_schedule(i / 12, 0.05, warmup=0.5))) / (n1 + n2)
                for i in range(12)]
    assert seen == pytest.approx(expected)
    for layer, ec in ((net.conv1, 0.2), (net.conv2, 0.05)):
        assert layer.weight_binarizer.active_fraction(layer.weight) == pytest.approx(
            ec, abs=1 / layer.weight.numel())
    assert 'train/loss_sparsity' not in runner.message_hub.log_scalars


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize('ec', [0, 0.0, -0.1, 1.5, 2, float('nan'), True, '0.1', None])
@pytest.mark.parametrize('cls', ['SparseBinaryWeight', 'PrunedSignWeight'])
def test_ec_outside_0_1_is_refused(cls, ec):
    with pytest.raises(ValueError, match=r'EC, expected connections.*\(0, 1\]'):
        build_binarizer(dict(type=cls, ec=ec))


@pytest.mark.parametrize('cfg,match', [
    (dict(type='SparseBinaryWeight', gradient='tanh'), 'gradient must be one of'),
    (dict(type='SparseBinaryWeight', threshold='topk'), 'threshold must be one of'),
    (dict(type='SparseBinaryWeight', init='zeros'), 'init must be one of'),
    (dict(type='SparseBinaryWeight', clamp=0), r'clamp .* must be a number > 0 or None'),
    (dict(type='SparseBinaryWeight', clamp=True), 'clamp'),
    (dict(type='PrunedSignWeight', gradient='ede', t_min=0), 'EDE needs'),
    # EDE's schedule acts only with the EDE gradient: refused, not ignored
    (dict(type='PrunedSignWeight', t_min=5.0), "act only with gradient='ede'"),
    (dict(type='SparseBinaryWeight', gradient='identity', t_max=5.0), "only with gradient='ede'"),
])
def test_every_argument_acts_or_raises(cfg, match):
    with pytest.raises(ValueError, match=match):
        build_binarizer(cfg)


def test_ede_arguments_act():
    b = build_binarizer(dict(type='SparseBinaryWeight', gradient='ede', t_min=0.5, t_max=2.0))
    b.set_progress(1.0)
    assert b.t.item() == pytest.approx(2.0)


def test_hook_bad_arguments():
    with pytest.raises(ValueError, match='current ec'):
        SparseBinaryWeight().set_current_ec(0)
    with pytest.raises(ValueError, match='warmup'):
        SparsityHook(warmup=1.5)
    with pytest.raises(ValueError, match='ec_start'):
        SparsityHook(warmup=0.5, ec_start=0)
    with pytest.raises(ValueError, match=r'ec_start=0.5 acts only with a warm-up'):
        SparsityHook(ec_start=0.5)
    with pytest.raises(ValueError, match='log_active'):
        SparsityHook(log_active='yes')
    assert check_ec(1) == 1.0


@pytest.mark.parametrize('cfgs,hook,match', [
    ((dict(type='SparseBinaryWeight'), dict(type='SparseBinaryWeight')), dict(budget_loss=None),
     r"2 layers \(e.g. 'net.conv1'\) use the network-wide budget .* budget_loss=None"),
    ((dict(type='SparseBinaryWeight', **QUANTILE), dict(type='PrunedSignWeight')),
     dict(budget_loss=None), None),  # accepted: per-layer EC, no clamp
    ((dict(type='SparseBinaryWeight', ec=0.1, threshold='quantile'),
      dict(type='PrunedSignWeight')), dict(budget_loss=None),
     r"1 sparse layers \(e.g. 'net.conv1'\) have clamp=1.5, which mmbnn.LatentClampHook"),
    ((dict(type='PrunedSignWeight'), dict(type='SparseBinaryWeight', **QUANTILE)), dict(),
     r'the model has none .* set budget_loss=None'),
    ((dict(type='SparseBinaryWeight', ec=0.17), dict(type='SparseBinaryWeight', ec=0.17)),
     dict(), r'not for EC 0.17: set gamma explicitly'),
])
def test_hook_refuses_what_it_cannot_act_on(cfgs, hook, match):
    model = base_model(*cfgs)
    runner = SimpleNamespace(model=model, iter=0, max_iters=1, hooks=[])
    if match is None:
        SparsityHook(**hook).before_train(runner)
        return
    with pytest.raises(ValueError, match=match):
        SparsityHook(**hook).before_train(runner)
    if 'LatentClampHook' in match:  # with the clamp hook it trains
        runner.hooks = [LatentClampHook()]
        SparsityHook(**hook).before_train(runner)


def test_hook_refuses_a_model_without_sparse_binarizer():
    real = nn.Sequential(BinaryConv2d(2, 2, 3, weight_binarizer=None),
                         BinaryConv2d(2, 2, 3, weight_binarizer=dict(type='XNORWeight')))
    hook = SparsityHook()
    with pytest.raises(ValueError, match=r"SparsityHook: the model \(Sequential\) has no sparse "
                       r"weight binarizer.*2 binary layers, 1 of them with real weights "
                       r"\(weight_binarizer=None, e.g. '0'\), weight binarizers XNORWeight"):
        hook.before_train(SimpleNamespace(model=real, iter=0, max_iters=1))
    with pytest.raises(ValueError, match='no binary layer'):
        hook.before_train(SimpleNamespace(model=nn.Linear(2, 2), iter=0, max_iters=1))
    with pytest.raises(ValueError, match=r'real weights \(weight_binarizer=None\)'):
        layer_sparsity(real[0], strict=True)
    with pytest.raises(ValueError, match='no sparse weight binarizer'):
        layer_sparsity(real[1], strict=True)


# ------------------------------------------------------------------------------------ configs
@pytest.mark.parametrize('name', ['sbnn-irnet-r18-ec10_1xb512_cifar10.py',
                                  'sbnn-irnet-r18-ec25_1xb512_cifar10.py',
                                  'sbnn-irnet-r18-ec05_1xb512_cifar10.py',
                                  'sbnn-groupnet-r18-5b-ec10_1xb512_cifar10.py',
                                  'sbnn-irnet-r18-w16-ec10_1xb64_digits.py',
                                  'sbnn-quantile-irnet-r18-w16-ec10_1xb64_digits.py',
                                  'pruned-irnet-r18-w16-ec10_1xb64_digits.py'])
def test_configs_build_and_train_one_step(name):
    """Each config builds, its hook accepts the model (budget or not, as the binarizer says),
    and one loss step has the budget term exactly when the layers use it."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmpretrain.structures import DataSample
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sparse', name))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))  # as the Runner
    model = MODELS.build(cfg.model)
    found = sparse_binarizers(model)
    ec = {'ec25': 0.25, 'ec05': 0.05}.get(name.split('_')[0].split('-')[-1], 0.1)
    assert found and all(b.ec == ec for _, b in found)
    hooks = [HOOKS.build(h) for h in cfg.custom_hooks]
    assert type(hooks[-1]).__name__ == 'SparsityHook'
    hooks[-1].before_train(SimpleNamespace(model=model, iter=0, max_iters=1, hooks=hooks))
    samples = [DataSample().set_gt_label(i) for i in range(2)]
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 255, (3, 8, 8),
                                                              dtype=torch.uint8)] * 2,
                                        data_samples=samples), training=True)
    loss = model(**data, mode='loss')
    budget = all(b.uses_budget for _, b in found)
    assert ('loss_sparsity' in loss) == budget
    sum(v for k, v in loss.items() if 'loss' in k).backward()
    if not budget:
        assert active_fraction(model) == pytest.approx(ec, abs=0.01)
    hooks[-1].after_train(SimpleNamespace(model=model))
