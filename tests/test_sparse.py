"""Tests of the sparse weight binarizers (generalised binary domain, pruned +-1) and SparsityHook.

Forward values, gradients and the closed-form fit are compared with independent NumPy formulas
written here (nothing of mmbnn computes an expected value).
"""
import math
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import mmbnn.binarizers.sparse  # noqa: F401  (registers the binarizers)
import mmbnn.engine.sparsity_hook  # noqa: F401  (registers the hook)
from mmbnn.binarizers import build_binarizer
from mmbnn.binarizers.sparse import (SparseBinaryWeight, check_ec, fit_sparse_domain,
                                     layer_sparsity, mask_bits, sparse_binarizers)
from mmbnn.engine.sparsity_hook import SparsityHook, active_fraction, ec_schedule
from mmbnn.layers import BinaryConv2d, BinaryLinear
from mmbnn.registry import HOOKS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: 0, +-1, values between and |x| > 1 (distinct, so that the top-k sets are unambiguous).
X = np.array([-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5, 3.0])
DTYPES = [torch.float64, torch.float32]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}


# ----------------------------------------------------------------------------- NumPy references
def np_k(n, ec, max_active=1.0):
    return min(max(int(round(min(ec, max_active) * n)), 1), n)


def np_kth_largest(x, k):
    return np.sort(x.ravel())[::-1][k - 1]


def np_ede_grad(x, p, t_min=0.1, t_max=10.0):
    t = t_min * (t_max / t_min) ** p
    k = max(1.0 / t, 1.0)
    return k * t * (1 - np.tanh(t * x) ** 2)


def np_sbnn(x, ec, tau, phi, g, gradient, p):
    """q, dL/dx, dL/dtau, dL/dphi of L = sum(g q) for the generalised domain."""
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


def np_fit(w, ec):
    """Least squares by brute force over (phi, tau) given the top-k split: the two means."""
    k = np_k(w.size, ec, 0.5)
    order = np.argsort(w.ravel())[::-1]
    top, rest = w.ravel()[order[:k]], w.ravel()[order[k:]]
    return (top.mean() - rest.mean()) / 2, (top.mean() + rest.mean()) / 2


def make(cfg, tau, phi=None, x=None, dtype=torch.float64, progress=None):
    """A binarizer with tau (and phi) set by hand, fitted already (so the forward keeps them)."""
    b = build_binarizer(cfg).to(dtype)
    b.fit(torch.zeros(4, dtype=dtype) if x is None else x)
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
@pytest.mark.parametrize('ec', [0.05, 0.25, 0.5, 1.0])
@pytest.mark.parametrize('gradient,progress', [('identity', None), ('ede', 0.0), ('ede', 0.5),
                                               ('ede', 1.0)])
@pytest.mark.parametrize('shape', [X.shape, (4, 3, 3, 3)], ids=['table', 'conv'])
def test_sbnn_value_and_gradients(shape, gradient, progress, ec, dtype):
    x = X if shape == X.shape else np.random.default_rng(1).normal(size=shape)
    b = make(dict(type='SparseBinaryWeight', ec=ec, gradient=gradient), 0.7, 0.2, dtype=dtype,
             progress=progress)
    q, dx, g = run(b, x, dtype)
    eq, edx, edtau, edphi = np_sbnn(x, ec, 0.7, 0.2, g, gradient, progress)
    np.testing.assert_allclose(q, eq, **TOL[dtype])
    np.testing.assert_allclose(dx, edx, **TOL[dtype])
    np.testing.assert_allclose(b.tau.grad.item(), edtau, **TOL[dtype])
    np.testing.assert_allclose(b.phi.grad.item(), edphi, **TOL[dtype])
    assert set(np.unique(q)) <= {np.float64(q.max()), np.float64(q.min())}


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('ec', [0.05, 0.25, 0.5, 1.0])
@pytest.mark.parametrize('gradient,progress', [('identity', None), ('ede', 0.0), ('ede', 1.0)])
@pytest.mark.parametrize('shape', [X.shape, (4, 3, 3, 3)], ids=['table', 'conv'])
def test_pruned_value_and_gradients(shape, gradient, progress, ec, dtype):
    x = X if shape == X.shape else np.random.default_rng(2).normal(size=shape)
    b = make(dict(type='PrunedSignWeight', ec=ec, gradient=gradient), 0.7, dtype=dtype,
             progress=progress)
    q, dx, g = run(b, x, dtype)
    eq, edx, edtau = np_pruned(x, ec, 0.7, g, gradient, progress)
    np.testing.assert_allclose(q, eq, **TOL[dtype])
    np.testing.assert_allclose(dx, edx, **TOL[dtype])
    np.testing.assert_allclose(b.tau.grad.item(), edtau, **TOL[dtype])


def test_table_cases_by_hand():
    """The table at EC 0.25 (k = 2 of 8), written out: the threshold is the 2nd largest weight
    1.5, which is itself active (sign(0) = +1 at w = delta); 0 is not, +-1 are not."""
    b = make(dict(type='SparseBinaryWeight', ec=0.25), 1.0, 0.5)
    q = b(torch.tensor(X)).tolist()
    assert q == [-0.5, -0.5, -0.5, -0.5, -0.5, -0.5, 1.5, 1.5]
    p = make(dict(type='PrunedSignWeight', ec=0.5), 1.0)  # keeps |w| >= 1: 4 of 8
    assert p(torch.tensor(X)).tolist() == [-1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    # pruned at EC 1 keeps everything, 0 included, with sign(0) = +1
    assert make(dict(type='PrunedSignWeight', ec=1.0), 1.0)(torch.tensor(X))[3].item() == 1.0


def test_pruned_gradient_reaches_pruned_weights():
    """The mask passes the gradient straight through: a pruned weight still learns."""
    b = make(dict(type='PrunedSignWeight', ec=0.25), 2.0)
    x = torch.tensor(X, requires_grad=True)
    b(x).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 2.0))


# ------------------------------------------------------------------------- closed-form fit
@pytest.mark.parametrize('ec', [0.01, 0.05, 0.1, 0.25, 0.5, 1.0])
def test_closed_form_fit_against_numpy(ec):
    w = np.random.default_rng(3).normal(0.1, 0.5, size=(16, 8, 3, 3))
    tau, phi, delta = fit_sparse_domain(torch.tensor(w), ec)
    e_tau, e_phi = np_fit(w, ec)
    np.testing.assert_allclose([tau.item(), phi.item()], [e_tau, e_phi], rtol=1e-12)
    assert delta.item() == np_kth_largest(w, np_k(w.size, ec, 0.5))
    # it is the least-squares optimum: no other (tau, phi) nor other split of k does better
    k = np_k(w.size, ec, 0.5)
    flat = np.sort(w.ravel())[::-1]

    def err(t, f, top):
        s = np.where(np.isin(np.arange(flat.size), top), 1.0, -1.0)
        return ((flat - (f + t * s)) ** 2).sum()

    best = err(e_tau, e_phi, np.arange(k))
    rng = np.random.default_rng(4)
    for _ in range(20):
        assert best <= err(e_tau + rng.normal(0, .05), e_phi + rng.normal(0, .05),
                           np.arange(k)) + 1e-12
        other = rng.choice(flat.size, k, replace=False)
        o_top, o_rest = flat[other], np.delete(flat, other)
        o_tau, o_phi = (o_top.mean() - o_rest.mean()) / 2, (o_top.mean() + o_rest.mean()) / 2
        assert best <= err(o_tau, o_phi, other) + 1e-12


def test_small_ec_puts_the_inactive_value_near_zero():
    w = torch.randn(64, 64, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    tau, phi, _ = fit_sparse_domain(w, 0.05)
    assert abs((phi - tau).item()) < 0.15 * (phi + tau).item()


@pytest.mark.parametrize('cls', ['SparseBinaryWeight', 'PrunedSignWeight'])
def test_lazy_fit_once_and_kept_by_checkpoints(cls):
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = build_binarizer(dict(type=cls, ec=0.1)).double()
    assert not b.fitted
    b(w)
    assert b.fitted
    if cls == 'SparseBinaryWeight':
        e_tau, e_phi = np_fit(w.numpy(), 0.1)
        np.testing.assert_allclose([b.tau.item(), b.phi.item()], [e_tau, e_phi], rtol=1e-12)
    else:
        a = np.abs(w.numpy()).ravel()
        e_tau = np.sort(a)[::-1][:np_k(a.size, 0.1)].mean()
        np.testing.assert_allclose(b.tau.item(), e_tau, rtol=1e-12)
    with torch.no_grad():
        b.tau.fill_(3.0)
    b(w * 5)  # fitted already: learned values are kept
    assert b.tau.item() == 3.0
    fresh = build_binarizer(dict(type=cls, ec=0.1)).double()
    fresh.load_state_dict(b.state_dict())
    fresh(w)  # a loaded checkpoint is never refitted
    assert fresh.tau.item() == 3.0 and fresh.fitted


# --------------------------------------------------------------------------------- binary_parts
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('cfg', [dict(type='SparseBinaryWeight', ec=ec) for ec in
                                 (0.05, 0.3, 1.0)] +
                         [dict(type='PrunedSignWeight', ec=ec) for ec in (0.05, 0.3, 1.0)] +
                         [dict(type='SparseBinaryWeight', ec=0.1, gradient='ede')],
                         ids=lambda c: f'{c["type"]}-{c["ec"]}-{c.get("gradient", "")}')
@pytest.mark.parametrize('shape', [(8, 4, 3, 3), (5, 7)])
def test_binary_parts_rebuild_forward_exactly(cfg, shape, dtype):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    w.view(-1)[0] = 0.0  # one exact zero (no ties: the top-k sets are unambiguous)
    b = build_binarizer(cfg).to(dtype)
    q = b(w)
    signs, scale, offset = b.binary_parts(w)
    assert set(signs.unique().tolist()) <= {-1.0, 1.0}
    rebuilt = signs * scale + (offset if offset is not None else 0)
    assert torch.equal(rebuilt, q)
    mask = b.active_mask(w)
    assert mask.sum().item() == np_k(w.numel(), cfg['ec'], b.max_active)
    assert b.active_fraction(w) == pytest.approx(mask.double().mean().item())


# ------------------------------------------------------------------ layers, stats, summary data
def test_mask_bits_is_log2_binomial():
    for n, k in ((10, 3), (1152, 115), (64, 64), (64, 32)):
        assert mask_bits(n, k) == pytest.approx(math.log2(math.comb(n, k)), abs=1e-6)


@pytest.mark.parametrize('groups', [1, 2])
def test_layer_sparsity_stats(groups):
    conv = BinaryConv2d(8, 16, 3, padding=1, groups=groups,
                        weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1))
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
        n = dense.weight.numel()
        assert stats['sparse_bits'] == pytest.approx(  # n sign bits for +-1, ~n for a split
            n if cfg['ec'] == 1.0 else math.log2(math.comb(n, n // 2)))


def test_groupnet_backbone_takes_it_through_conv_cfg():
    from mmbnn.models.backbones import GroupNetResNet
    net = GroupNetResNet(depth=18, num_bases=2, stem='cifar', stem_channels=8, base_channels=8,
                         conv_cfg=dict(type='mmbnn.BinaryConv2d',
                                       act_binarizer=dict(type='ApproxSign'),
                                       weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1)))
    net(torch.randn(2, 3, 8, 8))[-1].sum().backward()
    found = sparse_binarizers(net)
    assert len(found) == 16 + 3  # 16 3x3 binary convs and 3 binary downsamples
    assert active_fraction(net) == pytest.approx(0.1, abs=0.01)
    for name, b in found:
        assert b.tau.grad is not None and b.phi.grad is not None, name


def test_ede_hook_anneals_sparse_binarizers():
    net = nn.Sequential(BinaryConv2d(2, 4, 3, weight_binarizer=dict(
        type='SparseBinaryWeight', ec=0.1, gradient='ede')))
    HOOKS.build(dict(type='EDEHook')).before_train_iter(
        SimpleNamespace(model=net, iter=5, max_iters=10), batch_idx=0)
    assert net[0].weight_binarizer.t.item() == pytest.approx(1.0)  # 0.1 * 100^0.5


# ------------------------------------------------------------------------------- SparsityHook
def test_ec_schedule():
    assert ec_schedule(0.0, 0.1, warmup=0.5) == 1.0
    assert ec_schedule(0.25, 0.1, warmup=0.5) == pytest.approx(0.1 + 0.9 * 0.5 ** 3)
    assert ec_schedule(0.5, 0.1, warmup=0.5) == 0.1 and ec_schedule(1.0, 0.1, warmup=0.5) == 0.1
    assert ec_schedule(0.0, 0.1) == 0.1  # no warm-up by default
    assert ec_schedule(0.1, 0.05, ec_start=0.5, warmup=0.2) == pytest.approx(
        0.05 + 0.45 * 0.5 ** 3)


def test_hook_sets_the_schedule_per_binarizer():
    net = nn.Sequential(
        BinaryConv2d(4, 8, 3, weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1)),
        BinaryConv2d(8, 8, 3, weight_binarizer=dict(type='PrunedSignWeight', ec=0.25)))
    hook = SparsityHook(warmup=0.5)
    runner = SimpleNamespace(model=net, iter=0, max_iters=8)
    hook.before_train(runner)
    b0, b1 = net[0].weight_binarizer, net[1].weight_binarizer
    for it in range(8):
        runner.iter = it
        hook.before_train_iter(runner, batch_idx=it)
        assert b0.current_ec == pytest.approx(ec_schedule(it / 8, 0.1, warmup=0.5))
        assert b1.current_ec == pytest.approx(ec_schedule(it / 8, 0.25, warmup=0.5))
    assert b0.effective_ec == 0.1 and b1.effective_ec == 0.25
    runner.iter = 0
    hook.before_train_iter(runner, batch_idx=0)
    assert b0.effective_ec == 0.5 and b1.effective_ec == 1.0  # dense: each domain's own
    hook.after_train(runner)
    assert (b0.current_ec, b1.current_ec) == (0.1, 0.25)


def test_sparsity_reaches_ec_in_a_runner(tmp_path):
    """A small binary CNN trained by the Runner with SparsityHook: dense at the start, exactly EC
    (per layer, within one weight) from the end of the warm-up on and after training; the
    logged active fraction follows."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    seen = []

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            sbnn = dict(type='SparseBinaryWeight', ec=0.2)
            self.conv1 = BinaryConv2d(3, 16, 3, padding=1, weight_binarizer=sbnn)
            self.bn = nn.BatchNorm2d(16)
            self.conv2 = BinaryConv2d(16, 16, 3, padding=1, weight_binarizer=dict(
                type='PrunedSignWeight', ec=0.05))
            self.fc = nn.Linear(16, 2)

        def forward(self, inputs, labels=None, mode='tensor'):
            seen.append(active_fraction(self))
            x = self.conv2(self.bn(self.conv1(inputs)))
            logits = self.fc(x.mean((2, 3)))
            if mode == 'loss':
                return dict(loss=nn.functional.cross_entropy(logits, labels))
            return logits

    gen = torch.Generator().manual_seed(0)
    data = [dict(inputs=torch.randn(3, 6, 6, generator=gen), labels=i % 2) for i in range(16)]
    model = Toy()
    runner = Runner(
        model=model, work_dir=str(tmp_path),
        train_dataloader=dict(dataset=data, batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=12, val_interval=100),
        custom_hooks=[dict(type='mmbnn.SparsityHook', warmup=0.5)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1), checkpoint=None),
        log_level='WARNING')
    runner.train()
    n1, n2 = model.conv1.weight.numel(), model.conv2.weight.numel()
    expected = [(np_k(n1, min(ec_schedule(i / 12, 0.2, warmup=0.5), 0.5)) +
                 np_k(n2, ec_schedule(i / 12, 0.05, warmup=0.5))) / (n1 + n2)
                for i in range(12)]
    assert seen == pytest.approx(expected)
    assert seen[0] > 0.9 and seen[-1] == pytest.approx((np_k(n1, .2) + np_k(n2, .05)) / (n1 + n2))
    for layer, ec in ((model.conv1, 0.2), (model.conv2, 0.05)):
        assert layer.weight_binarizer.active_fraction(layer.weight) == pytest.approx(
            ec, abs=1 / layer.weight.numel())
    logged = runner.message_hub.get_scalar('train/active_fraction').data[0]
    assert logged[-1] == pytest.approx(seen[-1])


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize('ec', [0, 0.0, -0.1, 1.5, 2, float('nan'), True, '0.1', None])
@pytest.mark.parametrize('cls', ['SparseBinaryWeight', 'PrunedSignWeight'])
def test_ec_outside_0_1_is_refused(cls, ec):
    with pytest.raises(ValueError, match=r'EC, expected connections.*\(0, 1\]'):
        build_binarizer(dict(type=cls, ec=ec))


def test_other_bad_arguments():
    with pytest.raises(ValueError, match='gradient must be one of'):
        build_binarizer(dict(type='SparseBinaryWeight', gradient='tanh'))
    with pytest.raises(ValueError, match='EDE needs'):
        build_binarizer(dict(type='PrunedSignWeight', gradient='ede', t_min=0))
    with pytest.raises(ValueError, match='current ec'):
        SparseBinaryWeight().set_current_ec(0)
    with pytest.raises(ValueError, match='warmup'):
        SparsityHook(warmup=1.5)
    with pytest.raises(ValueError, match='ec_start'):
        SparsityHook(ec_start=0)
    assert check_ec(1) == 1.0


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
                                  'pruned-irnet-r18-w16-ec10_1xb64_digits.py'])
def test_configs_build_and_train_one_step(name):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sparse', name))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))  # as the Runner
    model = MODELS.build(cfg.model)
    found = sparse_binarizers(model)
    assert found and all(b.ec == found[0][1].ec for _, b in found)
    assert [h['type'] for h in cfg.custom_hooks][-1] == 'mmbnn.SparsityHook'
    size = 8  # small inputs: a smoke test of the config, not of the resolution
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i) for i in range(2)]
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 255, (3, size, size),
                                                              dtype=torch.uint8)] * 2,
                                        data_samples=samples), training=True)
    loss = model(**data, mode='loss')
    sum(loss.values()).backward()
    assert active_fraction(model) == pytest.approx(found[0][1].ec, abs=0.01)
