"""Tests of the binarizers BiBench has beside ours: ReCU, FDA and XNOR-Net++'s factorised scales.

Every forward value and every autograd gradient is compared with an independent NumPy formula
written here, on tables of inputs holding 0, +-1 and |x| > 1 (nothing of mmbnn computes an
expected value), as tests/test_binarizers.py does for the others.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmbnn.binarizers import FDASign, FDAWeight, ReCUSign, ReCUWeight, build_binarizer
from mmbnn.layers import BinaryConv2d, FactorisedScale, XNORPlusPlusConv2d
from mmbnn.registry import HOOKS

X = np.array([-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5])
#: rows are output channels: 0, +-1 and |w| > 1 occur; row 1 holds the largest |w|
W = np.array([[-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 0.0],
              [0.3, -2.5, 1.0, -1.0, 0.0, 1.7, -0.2, 0.9],
              [0.12, -0.4, 0.05, 0.8, -1.2, 0.0, 0.33, -0.07]])
ALPHA = np.array([0.5, 1.5, 2.0])
DTYPES = [torch.float64, torch.float32]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=2e-5, atol=2e-6)}


def np_sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def run(module, x_np, dtype, seed=0):
    """Forward and backward of ``(module(x) * g).sum()``: value, x.grad and g as NumPy."""
    x = torch.tensor(x_np, dtype=dtype, requires_grad=True)
    q = module(x)
    g = torch.randn(q.shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    (q * g).sum().backward()
    return q.detach().numpy(), x.grad.numpy(), g.numpy().astype(np.float64)


# ------------------------------------------------------------------------------------ ReCU
def np_recu_tau(p, t_min=0.85, t_max=0.99):  # the official code's A a^p + B, a = e
    a = (t_max - t_min) / (np.e - 1)
    return a * np.e ** p + t_min - a


def np_recu_weight(w, g, alpha, tau, eps=1e-5):
    """ReCU's value and gradient, rows = output channels (derivation in the test's names)."""
    n = w.shape[1]
    w0 = w - w.mean(1, keepdims=True)
    s = np.sqrt((w0 ** 2).sum(1, keepdims=True) / (n - 1) + eps)
    c = 2 * np.sqrt(2)
    w1 = c * w0 / s
    q = -np.abs(w1).mean() * np.log(2 - 2 * tau)
    inside = np.abs(w1) <= q
    value = alpha[:, None] * np_sign(np.clip(w1, -q, q))
    u = g * alpha[:, None] * inside  # dL/dw1: identity STE, then the clamp
    dw0 = c * u / s - c * w0 * (u * w0).sum(1, keepdims=True) / ((n - 1) * s ** 3)
    grad = dw0 - dw0.mean(1, keepdims=True)
    dalpha = (g * np_sign(np.clip(w1, -q, q))).sum(1)
    return value, grad, dalpha, inside


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('shape', [(3, 8), (3, 2, 2, 2)], ids=['linear', 'conv'])
@pytest.mark.parametrize('progress', [0.0, 0.5, 1.0])
def test_recu_weight_value_and_gradient(progress, shape, dtype):
    m = build_binarizer(dict(type='ReCUWeight'), channels=3).to(dtype)
    with torch.no_grad():
        m.scale.copy_(torch.tensor(ALPHA))
    m.set_progress(progress)
    assert m.tau == pytest.approx(np_recu_tau(progress), rel=1e-12)
    q, grad, g = run(m, W.reshape(shape), dtype)
    value, expected, dalpha, inside = np_recu_weight(W, g.reshape(3, -1), ALPHA,
                                                      np_recu_tau(progress))
    # the clamp acts at the start (tau = 0.85) and is wide open at the end (tau = 0.99)
    assert inside.all() == (progress == 1.0)
    np.testing.assert_allclose(q.reshape(3, -1), value, **TOL[dtype])
    np.testing.assert_allclose(grad.reshape(3, -1), expected, **TOL[dtype])
    np.testing.assert_allclose(m.scale.grad.numpy(), dalpha, **TOL[dtype])


def test_recu_schedule_ends_and_binary_parts():
    m = ReCUWeight(3, init_value=0.7)
    assert m.tau == pytest.approx(0.85) and torch.equal(m.scale.detach(), torch.full((3, ), 0.7))
    m.set_progress(1.0)
    assert m.tau == pytest.approx(0.99)
    w = torch.tensor(W, dtype=torch.float32)
    signs, scale, offset = m.binary_parts(w)
    assert offset is None and set(signs.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(signs * scale, m(w))
    # the official code draws alpha uniformly from [0, 1)
    torch.manual_seed(0)
    a = ReCUWeight(1000).scale.detach()
    assert 0 <= a.min() and a.max() < 1 and abs(a.mean().item() - 0.5) < 0.05


def np_recu_sign_grad(x, g, eps=1e-5):
    n = x.shape[1]
    xc = x - x.mean(1, keepdims=True)
    s = np.sqrt((xc ** 2).sum(1, keepdims=True) / (n - 1) + eps)
    u = x / s
    a = g * np.where(np.abs(u) <= 1, 2 - 2 * np.abs(u), 0.0)
    return u, a / s - xc * (a * x).sum(1, keepdims=True) / ((n - 1) * s ** 3)


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_recu_sign_value_and_gradient(dtype):
    x = np.stack([X, X[::-1] * 0.7, X * 3.0])
    m = ReCUSign().to(dtype)
    q, grad, g = run(m, x, dtype)
    u, expected = np_recu_sign_grad(x, g)
    np.testing.assert_allclose(q, np_sign(x), **TOL[dtype])
    np.testing.assert_allclose(grad, expected, **TOL[dtype])
    assert ((np.abs(u) > 1) & (np.abs(x) < 1)).any() or ((np.abs(u) <= 1) & (np.abs(x) > 1)).any()
    # eval mode: the same values, ApproxSign's gradient on the raw input
    m.eval()
    q, grad, g = run(m, x, dtype)
    np.testing.assert_allclose(q, np_sign(x), **TOL[dtype])
    np.testing.assert_allclose(grad, g * np.where(np.abs(x) <= 1, 2 - 2 * np.abs(x), 0.0),
                               **TOL[dtype])


# ------------------------------------------------------------------------------------- FDA
def np_fda_grad(x, n, omega=0.1):  # the series as the code sums it, term by term
    total = sum(np.cos((2 * i + 1) * omega * x) for i in range(n + 1))
    return 4 * omega / np.pi * total * (np.abs(x) <= 1)


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('cfg,progress,n', [
    (dict(type='FDASign'), 0.0, 9), (dict(type='FDASign'), 0.5, 13),
    (dict(type='FDASign'), 1.0, 18), (dict(type='FDASign', n_min=0, n_max=0), 0.3, 0),
    (dict(type='FDASign', n_min=2, n_max=5, omega=1.5), 0.7, 4),
], ids=['n9', 'n13', 'n18', 'n0', 'omega1.5'])
def test_fda_sign_value_and_gradient(cfg, progress, n, dtype):
    m = build_binarizer(cfg)
    m.set_progress(progress)
    assert m.n == n
    x = np.concatenate([X, [1e-9, -1e-6, 2e-4, 0.999]])
    q, grad, g = run(m, x, dtype)
    np.testing.assert_allclose(q, np_sign(x), **TOL[dtype])
    np.testing.assert_allclose(grad, g * np_fda_grad(x, n, cfg.get('omega', 0.1)),
                               **TOL[dtype])


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('shape', [(3, 8), (3, 2, 2, 2)], ids=['linear', 'conv'])
def test_fda_weight_value_and_gradient(shape, dtype):
    m = FDAWeight()
    m.set_progress(0.4)  # n = 9 + int(3.6) = 12
    q, grad, g = run(m, W.reshape(shape), dtype)
    alpha = np.abs(W).mean(1, keepdims=True)
    np.testing.assert_allclose(q.reshape(3, -1), alpha * np_sign(W), **TOL[dtype])
    np.testing.assert_allclose(grad.reshape(3, -1), alpha * g.reshape(3, -1) * np_fda_grad(W, 12),
                               **TOL[dtype])
    signs, scale, offset = m.binary_parts(torch.tensor(W.reshape(shape)))
    assert offset is None and torch.equal(signs * scale, m(torch.tensor(W.reshape(shape))))


def test_fda_series_is_the_derivative_of_the_truncated_sine_series():
    """The surrogate is the exact derivative of 4/pi sum sin((2i+1) w x) / (2i+1)."""
    x = torch.linspace(-1, 1, 41, dtype=torch.float64, requires_grad=True)
    for n, omega in ((9, 0.1), (3, 2.0)):
        smooth = 4 / math.pi * sum(torch.sin((2 * i + 1) * omega * x) / (2 * i + 1)
                                   for i in range(n + 1))
        expected, = torch.autograd.grad(smooth.sum(), x)
        m = FDASign(n_min=n, n_max=n, omega=omega)
        got, = torch.autograd.grad(m(x).sum(), x)
        torch.testing.assert_close(got, expected)


# ------------------------------------------------------------------------ the shared pieces
@pytest.mark.parametrize('cfg', [dict(type='ReCUWeight'), dict(type='FDAWeight'),
                                 dict(type='ReCUSign'), dict(type='FDASign')],
                         ids=lambda c: c['type'])
def test_sign_of_zero_is_plus_one(cfg):
    m = build_binarizer(cfg, channels=2)
    if cfg['type'].endswith('Weight'):
        w = torch.tensor(np.stack([W[0], W[0] * -0.5]), dtype=torch.float32)  # zero mean rows
        signs = m.binary_parts(w)[0]
        assert (signs[w == 0] == 1).all()
        assert (m(w)[w == 0] > 0).all()  # positive scales: ReCU's alpha in [0, 1), FDA's mean
    else:
        x = torch.tensor([[0.0, -0.0, 1.0], [-0.0, 0.0, -1.0]])
        assert torch.equal(m(x)[:, :2], torch.ones(2, 2))


def test_ede_hook_anneals_recu_and_fda():
    """mmbnn.EDEHook (the progress hook) sets tau and n as it sets EDE's t."""
    net = torch.nn.ModuleDict(dict(w=ReCUWeight(2), a=FDASign(), fw=FDAWeight(n_min=1, n_max=3)))
    hook = HOOKS.build(dict(type='EDEHook', by_epoch=True))
    hook.before_train(SimpleNamespace(model=net))  # finds them: no "no EDE module" error
    hook.before_train_epoch(SimpleNamespace(model=net, epoch=3, max_epochs=4))
    assert net['w'].tau == pytest.approx(np_recu_tau(0.75))
    assert net['a'].n == 9 + int(0.75 * 9) and net['fw'].n == 1 + int(0.75 * 2)


@pytest.mark.parametrize('cfg,error,match', [
    (dict(type='ReCUWeight', channels=0), ValueError, 'channels'),
    (dict(type='ReCUWeight', channels=2, tau_min=0.5), ValueError, 'tau_min'),
    (dict(type='ReCUWeight', channels=2, tau_max=1.0), ValueError, 'tau_max'),
    (dict(type='ReCUWeight', channels=2, tau_min=0.95, tau_max=0.9), ValueError, 'tau_min'),
    (dict(type='ReCUWeight', channels=2, tau_min='0.9'), ValueError, 'tau_min'),
    (dict(type='ReCUWeight', channels=2, eps=0), ValueError, 'eps'),
    (dict(type='ReCUWeight', channels=2, init_value=True), ValueError, 'init_value'),
    (dict(type='ReCUSign', eps=-1.0), ValueError, 'eps'),
    (dict(type='ReCUSign', nope=1), TypeError, 'nope'),
    (dict(type='FDASign', n_min=-1), ValueError, 'n_min'),
    (dict(type='FDASign', n_max=2.5), ValueError, 'n_max'),
    (dict(type='FDASign', n_min=10, n_max=9), ValueError, 'n_min <= n_max'),
    (dict(type='FDAWeight', omega=0), ValueError, 'omega'),
    (dict(type='FDAWeight', omega=True), ValueError, 'omega'),
    (dict(type='FDAWeight', scale=1.0), TypeError, 'scale'),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_arguments_fail_at_build_time(cfg, error, match):
    with pytest.raises(error, match=match):
        build_binarizer(cfg)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match='channels=3'):
        ReCUWeight(3)(torch.zeros(4, 2))
    with pytest.raises(ValueError, match='at least 2 weights'):
        ReCUWeight(3)(torch.zeros(3, 1))
    with pytest.raises(ValueError, match='at least 2 values'):
        ReCUSign()(torch.zeros(4))
    with pytest.raises(ValueError, match='progress'):
        FDASign().set_progress(-0.1)


# ------------------------------------------------------------------ XNOR-Net++'s output scale
FACTORS = [('c', 'h', 'w'), ('c', 'hw'), ('chw', ), ('c', )]


@pytest.mark.parametrize('factors', FACTORS, ids=lambda f: '+'.join(f))
def test_factorised_scale_value_and_gradients(factors):
    c, h, w, size = 3, 4, 5, 6
    m = FactorisedScale(c, factors, max_size=size).double()
    gen = np.random.default_rng(0)
    values = [gen.uniform(0.5, 1.5, tuple(p.shape)) for p in m.scales]
    with torch.no_grad():
        for p, v in zip(m.scales, values):
            p.copy_(torch.tensor(v))
    x = gen.standard_normal((2, c, h, w))
    x[0, 0, 0, :3] = (0.0, 1.0, -2.0)
    q, grad, g = run(m, x, torch.float64)
    cut = [v[:, :min(h, v.shape[1]), :min(w, v.shape[2])] for v in values]
    gamma = np.ones((1, 1, 1))
    for v in cut:
        gamma = gamma * v
    np.testing.assert_allclose(q, x * gamma, rtol=1e-12)
    np.testing.assert_allclose(grad, g * gamma, rtol=1e-12)
    for i, (p, v) in enumerate(zip(m.scales, cut)):
        others = np.ones((1, 1, 1))
        for j, u in enumerate(cut):
            if j != i:
                others = others * u
        full = (g * x * others).sum(0)  # (C, H, W), then reduce the broadcast dims
        dims = tuple(d for d in range(3) if v.shape[d] == 1)
        expected = np.zeros(p.shape)
        expected[:, :v.shape[1], :v.shape[2]] = full.sum(axis=dims, keepdims=True)
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_xnorpp_conv_is_scaled_sign_conv_with_clipped_ste():
    torch.manual_seed(0)
    m = XNORPlusPlusConv2d(3, 4, 3, padding=1, stride=2, bias=True, scale_max_size=8)
    with torch.no_grad():
        for p in m.output_scale.scales:
            p.uniform_(0.5, 2.0)
    assert type(m.act_binarizer).__name__ == 'STESign'
    assert type(m.weight_binarizer).__name__ == 'SignWeight'
    x = torch.randn(2, 3, 7, 7, requires_grad=True)
    y = m(x)
    # an independent formulation: BiBench's detach trick for both clipped STEs
    xr = x.detach().clone().requires_grad_()
    wr = m.weight.detach().clone().requires_grad_()

    def ste(v):
        c = v.clamp(-1, 1)
        return torch.where(v >= 0, 1.0, -1.0) - c.detach() + c

    ref = F.conv2d(ste(xr), ste(wr), m.bias.detach(), 2, 1) * m.output_scale.gamma(4, 4)
    torch.testing.assert_close(y, ref)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    (ref * g).sum().backward()
    torch.testing.assert_close(x.grad, xr.grad)
    torch.testing.assert_close(m.weight.grad, wr.grad)
    with pytest.raises(ValueError, match='max_size=8'):
        m(torch.randn(1, 3, 20, 20))


@pytest.mark.parametrize('kwargs,match', [
    (dict(factors=('h', 'w')), 'factors'), (dict(factors='cw'), 'factors'),
    (dict(max_size=0), 'max_size'), (dict(channels=0), 'channels')])
def test_factorised_scale_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FactorisedScale(**dict(dict(channels=2), **kwargs))


# ------------------------------------------------------------------- conversion to the kernels
def test_weight_binarizers_convert_to_the_kernels():
    """ReCU and FDA weights are signs times one scale per channel: their layers run on the
    bit-packed kernels and give the simulation's output."""
    from mmbnn.deploy import convert
    from mmbnn.deploy.inference_layers import BitPackedConv2d
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        BinaryConv2d(8, 16, 3, padding=1, bias=False, act_binarizer=dict(type='STESign'),
                     weight_binarizer=dict(type='ReCUWeight')),
        torch.nn.BatchNorm2d(16),
        BinaryConv2d(16, 8, 3, padding=1, stride=2, act_binarizer=dict(type='STESign'),
                     weight_binarizer=dict(type='FDAWeight'))).eval()
    with torch.no_grad():  # trained-like statistics: no exact ties at the second sign
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].bias.uniform_(-0.3, 0.3)
    x = torch.randn(2, 8, 9, 9)
    packed = convert(net, example_inputs=x)
    assert isinstance(packed[0], BitPackedConv2d) and isinstance(packed[2], BitPackedConv2d)
    torch.testing.assert_close(packed(x), net(x), rtol=1e-4, atol=1e-4)


def test_sign_activations_convert_once_registered_as_signs(monkeypatch):
    """FDASign and ReCUSign compute sign(x) at inference; mmbnn.deploy needs them listed as signs
    (a one-line change in mmbnn/deploy/converters.py, the lead's): until then their layers stay
    simulated and convert() says so; registered, they convert exactly."""
    from mmbnn.deploy import convert, converters, simulated_layers
    torch.manual_seed(0)
    net = torch.nn.Sequential(*[BinaryConv2d(4, 4, 3, padding=1, act_binarizer=dict(type=t),
                                             weight_binarizer=dict(type='XNORWeight'))
                                for t in ('FDASign', 'ReCUSign')]).eval()
    x = torch.randn(2, 4, 6, 6)
    missing = [t for t in (FDASign, ReCUSign) if t not in converters.SIGN_THRESHOLDS]
    if missing:
        with pytest.warns(UserWarning, match='is not a sign'):
            packed = convert(net, example_inputs=x)
        assert len(simulated_layers(packed)) == len(missing)
        torch.testing.assert_close(packed(x), net(x))
    for t in missing:
        monkeypatch.setitem(converters.SIGN_THRESHOLDS, t, lambda b: None)
    packed = convert(net, example_inputs=x)
    assert not getattr(packed, '_mmbnn_simulated')
    torch.testing.assert_close(packed(x), net(x), rtol=1e-4, atol=1e-4)


def xnorpp_converter(m):
    """The converter proposed for mmbnn/deploy/layer_converters.py (the lead's): the sign conv on
    the kernels (its bias as the epilogue's shift), then Gamma in torch (a per-position scale has
    no kernel epilogue): ``Gamma . (conv + b)``, the layer's own forward."""
    import copy
    from mmbnn.deploy.inference_layers import BitPackedConv2d
    return torch.nn.Sequential(BitPackedConv2d.from_conv(m), copy.deepcopy(m.output_scale))


def test_xnorpp_conv_converts_with_its_scale_after_the_kernel(monkeypatch):
    """Without a registered converter the layer stays simulated, in convert()'s one warning, with
    the same output; with the proposed one its conv runs on the kernels, exactly."""
    from mmbnn.deploy import convert, converters, simulated_layers
    torch.manual_seed(0)
    net = torch.nn.Sequential(XNORPlusPlusConv2d(4, 4, 3, padding=1, bias=True,
                                                 scale_max_size=8)).eval()
    with torch.no_grad():
        for p in net[0].output_scale.scales:
            p.uniform_(0.5, 2.0)
    x = torch.randn(1, 4, 5, 5)
    if XNORPlusPlusConv2d not in converters.CONVERTERS:
        with pytest.warns(UserWarning, match='XNORPlusPlusConv2d'):
            packed = convert(net, example_inputs=x)
        assert [t for _, t, _ in simulated_layers(packed)] == ['XNORPlusPlusConv2d']
        torch.testing.assert_close(packed(x), net(x))
        monkeypatch.setitem(converters.CONVERTERS, XNORPlusPlusConv2d, xnorpp_converter)
    packed = convert(net, example_inputs=x)
    assert not simulated_layers(packed)
    torch.testing.assert_close(packed(x), net(x), rtol=1e-4, atol=1e-4)
