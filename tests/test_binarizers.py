"""Tests of the binarizers and the EDE hook.

Every forward value and every autograd gradient is compared with an independent NumPy formula
written here (nothing of mmbnn is called to compute an expected value).
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from mmbnn.binarizers import (ActivationBinarizer, BaseBinarizer, EDESign, IRNetWeight,
                              WeightBinarizer, build_binarizer)
from conftest import ROOT
from mmbnn.registry import HOOKS, MODELS

#: 0, +-1, values between and |x| > 1.
X = np.array([-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5])
DTYPES = [torch.float64, torch.float32]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}



def registered(kind=BaseBinarizer):
    """The names of every binarizer class in mmbnn's registry (of ``kind``), sorted."""
    import mmbnn.binarizers  # noqa: F401  (registers them)
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, kind))


ACTIVATION_NAMES = registered(ActivationBinarizer)
WEIGHT_NAMES = registered(WeightBinarizer)


# ----------------------------------------------------------------------------- NumPy references
def np_sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def np_ede_t_k(p, t_min=0.1, t_max=10.0):
    t = t_min * (t_max / t_min) ** p
    return t, max(1.0 / t, 1.0)


def np_approx_grad(x):
    return np.where(np.abs(x) <= 1, 2 - 2 * np.abs(x), 0.0)


def np_swish_grad(x, beta):  # larq's swish_sign gradient, verbatim formula
    bx = beta * x
    return beta * (2 - bx * np.tanh(bx / 2)) / (1 + np.cosh(bx))


def np_ede_grad(x, p):
    t, k = np_ede_t_k(p)
    return k * t * (1 - np.tanh(t * x) ** 2)


def np_dorefa_act(x, bits):
    n = 2 ** bits - 1
    return np.round(np.clip(x, 0, 1) * n) / n


def run(module, x_np, dtype, seed=0):
    """Forward and backward of ``(module(x) * g).sum()``; returns value, x.grad, g (NumPy)."""
    x = torch.tensor(x_np, dtype=dtype, requires_grad=True)
    q = module(x)
    g = torch.randn(q.shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    (q * g).sum().backward()
    return q.detach().numpy(), x.grad.numpy(), g.numpy()


def build(cfg, progress=None, channels=None, dtype=torch.float64):
    m = build_binarizer(cfg, channels=channels).to(dtype)  # buffers (EDE's t, k) follow
    if progress is not None:
        m.set_progress(progress)
    return m


# ----------------------------------------------------------------------- activation binarizers
# (id, config, EDE progress, NumPy q(x), NumPy dq/dx)
ACTIVATION_TABLE = [
    ('ste_clip1', dict(type='STESign'), None, np_sign, lambda x: (np.abs(x) <= 1) * 1.0),
    ('ste_clip0.5', dict(type='STESign', clip_value=0.5), None, np_sign,
     lambda x: (np.abs(x) <= 0.5) * 1.0),
    ('ste_noclip', dict(type='STESign', clip_value=None), None, np_sign, np.ones_like),
    ('identity_ste', dict(type='IdentitySTESign'), None, np_sign, np.ones_like),
    ('approx', dict(type='ApproxSign'), None, np_sign, np_approx_grad),
    ('swish_b5', dict(type='SwishSign'), None, np_sign, lambda x: np_swish_grad(x, 5.0)),
    ('swish_b1', dict(type='SwishSign', beta=1.0), None, np_sign,
     lambda x: np_swish_grad(x, 1.0)),
    ('ede_p0', dict(type='EDESign'), 0.0, np_sign, lambda x: np_ede_grad(x, 0.0)),
    ('ede_p0.5', dict(type='EDESign'), 0.5, np_sign, lambda x: np_ede_grad(x, 0.5)),
    ('ede_p1', dict(type='EDESign'), 1.0, np_sign, lambda x: np_ede_grad(x, 1.0)),
    ('dorefa_1', dict(type='DoReFaActivation', bits=1), None, lambda x: np_dorefa_act(x, 1),
     lambda x: ((x >= 0) & (x <= 1)) * 1.0),
    ('dorefa_2', dict(type='DoReFaActivation', bits=2), None, lambda x: np_dorefa_act(x, 2),
     lambda x: ((x >= 0) & (x <= 1)) * 1.0),
    ('dorefa_4', dict(type='DoReFaActivation', bits=4), None, lambda x: np_dorefa_act(x, 4),
     lambda x: ((x >= 0) & (x <= 1)) * 1.0),
    ('fp_tanh', dict(type='FPProxy'), None, np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    ('fp_hardtanh', dict(type='FPProxy', kind='hardtanh'), None, lambda x: np.clip(x, -1, 1),
     lambda x: (np.abs(x) < 1) * 1.0),
]


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('cfg,progress,np_q,np_dq',
                         [row[1:] for row in ACTIVATION_TABLE],
                         ids=[row[0] for row in ACTIVATION_TABLE])
def test_activation_value_and_gradient(cfg, progress, np_q, np_dq, dtype):
    m = build(cfg, progress, dtype=dtype)
    assert isinstance(m, ActivationBinarizer)
    # a 2-D input with the table's values in both orders, and a 1-D one
    for x in (X, np.stack([X, X[::-1] * 0.7])):
        q, grad, g = run(m, x, dtype)
        assert q.dtype == grad.dtype == x.astype(np.float64 if dtype == torch.float64
                                                 else np.float32).dtype
        np.testing.assert_allclose(q, np_q(x), **TOL[dtype])
        np.testing.assert_allclose(grad, g * np_dq(x), **TOL[dtype])


# Per-channel thresholds: q(x) = sign(x - b_c), dq/dx = ApproxSign's 2 - 2|x - b_c| on
# |x - b_c| <= 1, dq/db_c = -dq/dx; BaseShiftProxy (stage 1): q(x) = tanh(x - b_c).
# (id, config, channels, initial b as NumPy, b learnable, q as NumPy, dq/dx as NumPy)
np_tanh_grad = lambda d: 1 - np.tanh(d) ** 2  # noqa: E731
CHANNEL_ACTIVATION_TABLE = [
    ('rsign', dict(type='RSign'), 3, np.zeros(3), True, np_sign, np_approx_grad),
    # K = 3 bases of C = 2 channels, base-major: thresholds -0.5, 0, 0.5 spread over the bases
    ('base_shift_k3', dict(type='BaseShiftSign', num_bases=3), 6,
     np.repeat([-0.5, 0.0, 0.5], 2), True, np_sign, np_approx_grad),
    ('base_shift_fixed', dict(type='BaseShiftSign', num_bases=2, shifts=(0.3, -0.2),
                              learnable=False), 4, np.array([0.3, 0.3, -0.2, -0.2]), False,
     np_sign, np_approx_grad),
    ('base_shift_proxy_k3', dict(type='BaseShiftProxy', num_bases=3), 6,
     np.repeat([-0.5, 0.0, 0.5], 2), True, np.tanh, np_tanh_grad),
    ('base_shift_proxy_hardtanh', dict(type='BaseShiftProxy', num_bases=2, kind='hardtanh'), 4,
     np.repeat([-0.5, 0.5], 2), True, lambda d: np.clip(d, -1, 1),
     lambda d: (np.abs(d) < 1) * 1.0),
]


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('layout', ['conv', 'linear'])
@pytest.mark.parametrize('cfg,channels,b_init,learnable,np_q,np_dq',
                         [row[1:] for row in CHANNEL_ACTIVATION_TABLE],
                         ids=[row[0] for row in CHANNEL_ACTIVATION_TABLE])
def test_channel_threshold_value_and_gradients(cfg, channels, b_init, learnable, np_q, np_dq,
                                               layout, dtype):
    m = build(cfg, channels=channels).to(dtype)
    assert m.bias.shape == (1, channels, 1, 1)
    # built in float32, then converted
    np.testing.assert_allclose(m.bias.detach().view(-1).numpy(), b_init, rtol=1e-7, atol=0)
    assert isinstance(m.bias, nn.Parameter) == learnable
    # thresholds other than the initial ones, to see the subtraction channel by channel
    b = b_init + np.linspace(-0.25, 0.25, channels)
    with torch.no_grad():
        m.bias.copy_(torch.tensor(b).view(1, channels, 1, 1))
    shape = (2, channels, 7, 1) if layout == 'conv' else (7, channels)
    bb = b.reshape((1, channels) + (1, ) * (len(shape) - 2))
    # x - b takes every value of X, exact zeros included, in every channel
    d0 = np.broadcast_to(X.reshape((1, 1, 7, 1) if len(shape) == 4 else (7, 1)), shape)
    x = (d0 + bb).astype(np.float64 if dtype == torch.float64 else np.float32)
    q, grad, g = run(m, x, dtype)
    d = x - bb.astype(x.dtype)  # the same subtraction in the same dtype
    assert (d == 0).any()
    np.testing.assert_allclose(q, np_q(d), **TOL[dtype])
    np.testing.assert_allclose(grad, g * np_dq(d), **TOL[dtype])
    if learnable:
        reduce_dims = tuple(i for i in range(len(shape)) if i != 1)
        expected_db = -(g * np_dq(d)).sum(axis=reduce_dims)
        np.testing.assert_allclose(m.bias.grad.view(-1).numpy(), expected_db, **TOL[dtype])
    else:
        assert not list(m.parameters())


def test_rsign_rejects_wrong_channel_count():
    m = build(dict(type='RSign'), channels=3)
    with pytest.raises(ValueError, match='channels=3'):
        m(torch.zeros(2, 4, 5, 5))


# --------------------------------------------------------------------------- weight binarizers
#: rows are output channels; row 0 is symmetric (mean exactly 0, so its zeros stay zeros after
#: IR-Net's standardisation); row 1 holds the unique largest |w|; 0, +-1 and |w| > 1 all occur.
W = np.array([[-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 0.0],
              [0.3, -2.5, 1.0, -1.0, 0.0, 1.7, -0.2, 0.9],
              [0.12, -0.4, 0.05, 0.8, -1.2, 0.0, 0.33, -0.07]])
LEARNED_SCALE = np.array([0.5, 1.5, 2.0])


def np_xnor(w, g):
    a = np.abs(w).mean(1, keepdims=True)
    s = np_sign(w)  # the binary sign, +1 at 0; d|w|/dw is np.sign(w), 0 at 0
    return a * s, a * g + np.sign(w) / w.shape[1] * (g * s).sum(1, keepdims=True)


def np_layer_scale(w, g):
    a = np.abs(w).mean()
    s = np_sign(w)
    return a * s, a * g + np.sign(w) / w.size * (g * s).sum()


def np_irnet(w, g, progress=None):
    n = w.shape[1]
    sigma = w.std(1, ddof=1, keepdims=True)
    z = (w - w.mean(1, keepdims=True)) / sigma
    s = 2.0 ** np.round(np.log2(np.abs(z).mean(1, keepdims=True)))
    dz = np.ones_like(z) if progress is None else np_ede_grad(z, progress)
    u = g * s * dz  # dL/dz
    grad = (u - u.mean(1, keepdims=True)) / sigma \
        - z * (u * z).sum(1, keepdims=True) / ((n - 1) * sigma)
    return s * np_sign(z), grad


def np_dorefa_weight(w, g, bits):
    if bits == 1:
        return np_sign(w) * np.abs(w).mean(), g
    n = 2 ** bits - 1
    t = np.tanh(w)
    m = np.abs(t).max()
    wt = t / (2 * m) + 0.5
    value = 2 * np.round(wt * n) / n - 1
    sech2 = 1 - t ** 2
    grad = g * sech2 / m  # 2 * g * dwt/dw through tanh
    j = np.unravel_index(np.abs(t).argmax(), t.shape)  # the max's own gradient
    grad[j] -= (g * t).sum() / m ** 2 * np.sign(t[j]) * sech2[j]
    return value, grad


# (id, config, EDE progress, NumPy (value, dL/dw) from (w, g))
WEIGHT_TABLE = [
    ('sign_clip1', dict(type='SignWeight'), None,
     lambda w, g: (np_sign(w), g * (np.abs(w) <= 1))),
    ('sign_noclip', dict(type='SignWeight', clip_value=None), None,
     lambda w, g: (np_sign(w), g)),
    ('xnor', dict(type='XNORWeight'), None, np_xnor),
    ('layer_scale', dict(type='LayerScaleWeight'), None, np_layer_scale),
    ('irnet_identity', dict(type='IRNetWeight'), None, np_irnet),
    ('irnet_ede_p0', dict(type='IRNetWeight', gradient='ede'), 0.0,
     lambda w, g: np_irnet(w, g, 0.0)),
    ('irnet_ede_p0.7', dict(type='IRNetWeight', gradient='ede'), 0.7,
     lambda w, g: np_irnet(w, g, 0.7)),
    ('learned_scale', dict(type='LearnedScaleWeight', init_value=1.0), 'scale',
     lambda w, g: (LEARNED_SCALE[:, None] * np_sign(w), LEARNED_SCALE[:, None] * g)),
    ('dorefa_1', dict(type='DoReFaWeight'), None, lambda w, g: np_dorefa_weight(w, g, 1)),
    ('dorefa_2', dict(type='DoReFaWeight', bits=2), None,
     lambda w, g: np_dorefa_weight(w, g, 2)),
    ('dorefa_3', dict(type='DoReFaWeight', bits=3), None,
     lambda w, g: np_dorefa_weight(w, g, 3)),
    # the frozen weight of a loaded packed checkpoint: q(w) = w, identity gradient
    ('packed', dict(type='PackedBinaryWeight'), None, lambda w, g: (w, g)),
]
#: binarizers of a latent weight into signs (PackedBinaryWeight holds an already binary one)
ONE_BIT_WEIGHT_ROWS = [row for row in WEIGHT_TABLE
                       if row[1].get('bits', 1) == 1 and row[1]['type'] != 'PackedBinaryWeight']

#: Registered binarizers whose NumPy reference needs more than a table row (a fitted or
#: thresholded domain, several parameters): name -> (test file, test function).
REFERENCE_TESTS = {
    'SparseBinaryWeight': ('tests/test_sparse.py', 'test_sbnn_value_and_gradients'),
    'PrunedSignWeight': ('tests/test_sparse.py', 'test_pruned_value_and_gradients'),
    'ReCUWeight': ('tests/test_bibench_binarizers.py', 'test_recu_weight_value_and_gradient'),
    'ReCUSign': ('tests/test_bibench_binarizers.py', 'test_recu_sign_value_and_gradient'),
    'FDASign': ('tests/test_bibench_binarizers.py', 'test_fda_sign_value_and_gradient'),
    'FDAWeight': ('tests/test_bibench_binarizers.py', 'test_fda_weight_value_and_gradient'),
    'BiRealWeight': ('tests/test_arch_reactnet_a.py', 'test_bireal_weight_against_numpy'),
}


def test_every_registered_binarizer_has_a_numpy_reference():
    """Adding a binarizer means adding its row to a table here (forward and gradient against
    NumPy); a registered binarizer without one fails this test."""
    tables = [row[1]['type'] for row in ACTIVATION_TABLE + WEIGHT_TABLE +
              CHANNEL_ACTIVATION_TABLE]
    missing = sorted(set(registered()) - set(tables) - set(REFERENCE_TESTS))
    assert not missing, f'registered binarizers without a NumPy reference row: {missing}'
    for name, (path, func) in REFERENCE_TESTS.items():
        with open(f'{ROOT}/{path}') as f:
            assert f'def {func}(' in f.read(), f'{name}: {path} has no {func}'
    assert not set(tables) - set(registered()), 'a table row names an unregistered binarizer'


def build_weight(cfg, setup, dtype=torch.float64):
    m = build_binarizer(cfg, channels=W.shape[0]).to(dtype)
    if setup == 'scale':
        with torch.no_grad():
            m.scale.copy_(torch.tensor(LEARNED_SCALE))
    elif setup is not None:
        m.set_progress(setup)
    return m


WEIGHT_SHAPES = [(3, 8), (3, 2, 2, 2)]


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('shape', WEIGHT_SHAPES, ids=['linear', 'conv'])
@pytest.mark.parametrize('cfg,setup,np_fn', [row[1:] for row in WEIGHT_TABLE],
                         ids=[row[0] for row in WEIGHT_TABLE])
def test_weight_value_and_gradient(cfg, setup, np_fn, shape, dtype):
    m = build_weight(cfg, setup, dtype)
    assert isinstance(m, WeightBinarizer)
    if cfg['type'] == 'PackedBinaryWeight':
        m.eval()  # a packed checkpoint's weights refuse to train (test_pack.py)
    q, grad, g = run(m, W.reshape(shape), dtype)
    value, expected_grad = np_fn(W, g.reshape(3, -1).astype(np.float64))
    np.testing.assert_allclose(q.reshape(3, -1), value, **TOL[dtype])
    np.testing.assert_allclose(grad.reshape(3, -1), expected_grad, **TOL[dtype])


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('shape', WEIGHT_SHAPES, ids=['linear', 'conv'])
def test_learned_scale_gradient(shape, dtype):
    m = build_weight(dict(type='LearnedScaleWeight'), 'scale', dtype)
    assert m.scale.shape == (3, )
    _, _, g = run(m, W.reshape(shape), dtype)
    expected = (g.reshape(3, -1) * np_sign(W)).sum(1)
    np.testing.assert_allclose(m.scale.grad.numpy(), expected, **TOL[dtype])


def test_learned_scale_init_and_channel_check():
    m = build_binarizer(dict(type='LearnedScaleWeight', init_value=0.25), channels=4)
    assert torch.equal(m.scale.detach(), torch.full((4, ), 0.25))
    with pytest.raises(ValueError, match='channels=4'):
        m(torch.zeros(3, 2))


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('shape', WEIGHT_SHAPES + [(3, 4, 3, 3), (5, 7)],
                         ids=['linear', 'conv', 'conv3x3_random', 'linear_random'])
@pytest.mark.parametrize('cfg,setup', [row[1:3] for row in ONE_BIT_WEIGHT_ROWS],
                         ids=[row[0] for row in ONE_BIT_WEIGHT_ROWS])
def test_binary_parts_rebuild_forward_exactly(cfg, setup, shape, dtype):
    if shape in WEIGHT_SHAPES:
        w = torch.tensor(W.reshape(shape), dtype=dtype)
    else:
        w = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=dtype) * 0.05
    m = build_binarizer(cfg, channels=shape[0]).to(dtype)
    if setup == 'scale':
        with torch.no_grad():
            m.scale.uniform_(0.1, 2.0)
    elif setup is not None:
        m.set_progress(setup)
    m.eval()
    with torch.no_grad():
        signs, scale, offset = m.binary_parts(w)
        q = m(w)
    assert signs.dtype == w.dtype and signs.shape == w.shape
    assert ((signs == 1) | (signs == -1)).all()
    rebuilt = signs * scale if offset is None else signs * scale + offset
    assert torch.equal(q, rebuilt)
    # the training path (autograd on) gives the same bits
    m.train()
    assert torch.equal(m(w.clone().requires_grad_()).detach(), rebuilt)


def test_multibit_dorefa_weight_has_no_binary_parts():
    with pytest.raises(NotImplementedError):
        build_binarizer(dict(type='DoReFaWeight', bits=2)).binary_parts(torch.ones(2, 3))


def test_irnet_weight_needs_two_weights_per_channel():
    with pytest.raises(ValueError, match='at least 2'):
        build_binarizer(dict(type='IRNetWeight'))(torch.ones(4, 1))


# ------------------------------------------------------------------------------ sign(0) = +1
#: the 1-bit signs ({-1, +1}); DoReFa's 1-bit activation is {0, 1} and has no sign
ONE_BIT_ACTIVATIONS = [row for row in ACTIVATION_TABLE
                       if row[1]['type'] not in ('FPProxy', 'DoReFaActivation')]


@pytest.mark.parametrize('dtype', DTYPES + [torch.float16], ids=str)
@pytest.mark.parametrize('cfg', [row[1] for row in ONE_BIT_ACTIVATIONS] + [dict(type='RSign')],
                         ids=[row[0] for row in ONE_BIT_ACTIVATIONS] + ['rsign'])
def test_activation_sign_of_zero_is_plus_one(cfg, dtype):
    m = build_binarizer(cfg, channels=2).to(dtype)
    x = torch.tensor([[0.0, -0.0], [-0.0, 0.0]], dtype=dtype)
    assert torch.equal(m(x), torch.ones(2, 2, dtype=dtype))


@pytest.mark.parametrize('cfg', [row[1] for row in ONE_BIT_WEIGHT_ROWS],
                         ids=[row[0] for row in ONE_BIT_WEIGHT_ROWS])
def test_weight_sign_of_zero_is_plus_one(cfg):
    # symmetric rows: mean 0, so zeros stay exact zeros after IR-Net's standardisation
    w = torch.tensor(np.stack([W[0], W[0] * -0.5]), dtype=torch.float32)
    m = build_binarizer(cfg, channels=2)
    signs, _, _ = m.binary_parts(w)
    zero = w == 0
    assert zero.sum() == 4
    assert (signs[zero] == 1).all()
    assert (m(w)[zero] > 0).all()


# --------------------------------------------------------------------- smooth pieces: gradcheck
def test_gradcheck_smooth_pieces():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(build_binarizer(dict(type='FPProxy')), (x, ))
    # hardtanh away from its kinks at +-1
    xh = torch.tensor([-1.7, -0.6, 0.2, 0.9, 1.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(build_binarizer(dict(type='FPProxy', kind='hardtanh')),
                                    (xh, ))
    # the scales as functions of the weight (smooth away from w = 0)
    w = (torch.rand(3, 2, 2, 2, dtype=torch.float64, generator=gen) + 0.1) \
        * (torch.randint(0, 2, (3, 2, 2, 2), generator=gen) * 2 - 1)
    w.requires_grad_()
    for name in ('XNORWeight', 'LayerScaleWeight', 'DoReFaWeight'):
        m = build_binarizer(dict(type=name))
        assert torch.autograd.gradcheck(lambda v: m.binary_parts(v)[1], (w, )), name
    # IR-Net's standardisation, and the learned scale as a parameter
    assert torch.autograd.gradcheck(lambda v: IRNetWeight._standardise(v)[0], (w, ))
    m = build_binarizer(dict(type='LearnedScaleWeight'), channels=3).double()
    a = torch.rand(3, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda s: torch.func.functional_call(m, {'scale': s}, (w.detach(), )), (a, ))


def test_surrogates_are_derivatives_of_their_smooth_proxies():
    """SwishSign's and EDE's gradients equal the autograd derivatives of the functions they
    approximate sign with (BNN+'s SignSwish and IR-Net's k tanh(t x))."""
    x = torch.linspace(-3, 3, 61, dtype=torch.float64, requires_grad=True)
    for beta in (1.0, 5.0):
        sig = torch.sigmoid(beta * x)
        smooth = 2 * sig * (1 + beta * x * (1 - sig)) - 1
        expected, = torch.autograd.grad(smooth.sum(), x)
        got, = torch.autograd.grad(build_binarizer(dict(type='SwishSign', beta=beta))(x).sum(),
                                   x)
        torch.testing.assert_close(got, expected)
    m = build_binarizer(dict(type='EDESign'))
    m.set_progress(0.3)
    t, k = np_ede_t_k(0.3)
    expected, = torch.autograd.grad((k * torch.tanh(t * x)).sum(), x)
    got, = torch.autograd.grad(m(x).sum(), x)
    torch.testing.assert_close(got, expected)


def test_swish_and_ede_gradients_stay_finite_for_large_inputs():
    x = torch.tensor([-1e4, -100.0, 100.0, 1e4], requires_grad=True)
    build_binarizer(dict(type='SwishSign'))(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    x.grad = None
    ede = build_binarizer(dict(type='EDESign'))
    ede.set_progress(1.0)
    ede(x).sum().backward()
    assert torch.isfinite(x.grad).all()


# -------------------------------------------------------------------- saved-for-backward memory
def saved_tensors_of(module, x):
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return saved


@pytest.mark.parametrize('cfg', [dict(type='STESign'), dict(type='STESign', clip_value=0.5),
                                 dict(type='DoReFaActivation', bits=2), dict(type='SignWeight')],
                         ids=['ste', 'ste_clip0.5', 'dorefa', 'sign_weight'])
def test_clipped_ste_saves_only_a_bool_mask(cfg):
    x = torch.randn(8, 16, requires_grad=True)
    saved = saved_tensors_of(build_binarizer(cfg), x)
    assert saved, 'the mask must be saved'
    assert all(t.dtype == torch.bool for t in saved)
    assert sum(t.numel() * t.element_size() for t in saved) <= x.numel()


@pytest.mark.parametrize('cfg', [dict(type='STESign', clip_value=None),
                                 dict(type='IdentitySTESign'), dict(type='DoReFaWeight')],
                         ids=['ste_noclip', 'identity_ste', 'dorefa_weight_1bit'])
def test_identity_ste_saves_nothing(cfg):
    assert saved_tensors_of(build_binarizer(cfg), torch.randn(8, 16, requires_grad=True)) == []


# -------------------------------------------------------------------- build errors and metadata
@pytest.mark.parametrize('cfg,error,match', [
    (dict(type='Nope'), KeyError, 'Nope'),
    (dict(type='DoReFaActivation', bits=0), ValueError, 'bits'),
    (dict(type='DoReFaActivation', bits=1.5), ValueError, 'bits'),
    (dict(type='DoReFaWeight', bits=0), ValueError, 'bits'),
    (dict(type='DoReFaWeight', bits=-2), ValueError, 'bits'),
    (dict(type='FPProxy', kind='x'), ValueError, 'kind'),
    (dict(type='STESign', clip_value=0), ValueError, 'clip_value'),
    (dict(type='STESign', clip_value=-1.0), ValueError, 'clip_value'),
    (dict(type='SignWeight', clip_value=0.0), ValueError, 'clip_value'),
    (dict(type='SwishSign', beta=0), ValueError, 'beta'),
    (dict(type='EDESign', t_min=0), ValueError, 't_min'),
    (dict(type='EDESign', t_min=10, t_max=1), ValueError, 't_max'),
    (dict(type='IRNetWeight', gradient='x'), ValueError, 'gradient'),
    (dict(type='RSign', channels=0), ValueError, 'channels'),
    (dict(type='LearnedScaleWeight', channels=0), ValueError, 'channels'),
    (dict(type='STESign', nope=1), TypeError, 'nope'),
    # arguments that would be silently ignored, or act as another value, are refused
    (dict(type='IRNetWeight', t_min=5.0), ValueError, 'act only with gradient=.ede.'),
    (dict(type='IRNetWeight', gradient='identity', t_max=5.0), ValueError, 'no EDE schedule'),
    (dict(type='STESign', clip_value=True), ValueError, 'clip_value'),
    (dict(type='SignWeight', clip_value='1'), ValueError, 'clip_value'),
    (dict(type='SwishSign', beta=True), ValueError, 'beta'),
    (dict(type='RSign', channels=True), ValueError, 'channels'),
    (dict(type='LearnedScaleWeight', channels=True), ValueError, 'channels'),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_arguments_fail_at_build_time(cfg, error, match):
    with pytest.raises(error, match=match):
        build_binarizer(cfg)


def test_set_progress_out_of_range():
    with pytest.raises(ValueError, match='progress'):
        build_binarizer(dict(type='EDESign')).set_progress(1.5)
    with pytest.raises(RuntimeError, match='no EDE schedule'):
        build_binarizer(dict(type='IRNetWeight')).set_progress(0.5)


@pytest.mark.parametrize('cfg,bits', [
    *[(dict(type=name), 1) for name in ACTIVATION_NAMES
      if name not in ('DoReFaActivation', 'FPProxy', 'BaseShiftProxy')],
    *[(dict(type=name), 1) for name in WEIGHT_NAMES],
    (dict(type='DoReFaActivation', bits=1), 1), (dict(type='DoReFaActivation', bits=3), 3),
    (dict(type='DoReFaWeight', bits=4), 4), (dict(type='FPProxy'), 32),
    (dict(type='FPProxy', kind='hardtanh'), 32), (dict(type='BaseShiftProxy'), 32)], ids=lambda v: v if isinstance(v, int) else None)
def test_bits_metadata(cfg, bits):
    m = build_binarizer(cfg, channels=3)
    assert m.bits == bits
    assert f'bits={bits}' in repr(m)


# ------------------------------------------------------------------ every binarizer, generically
@pytest.mark.parametrize('name', ACTIVATION_NAMES + WEIGHT_NAMES)
def test_every_binarizer_builds_and_trains(name):
    assert issubclass(MODELS.get(name), BaseBinarizer)
    m = build_binarizer(dict(type=name), channels=4)
    shape = (2, 4, 5, 5) if isinstance(m, ActivationBinarizer) else (4, 3, 3, 3)
    x = torch.randn(shape, requires_grad=True)
    if name == 'PackedBinaryWeight':  # a packed checkpoint's frozen weights: inference only
        with pytest.raises(RuntimeError, match='packed 1-bit checkpoint'):
            m(x)
        m.eval()
    y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in m.parameters())
    # dtype-agnostic: modules with buffers follow .double()
    m64 = build_binarizer(dict(type=name), channels=4).double()
    assert m64(x.detach().double()).dtype == torch.float64


def test_binary_layers_pass_channels():
    from mmbnn.layers import BinaryConv2d, BinaryLinear
    conv = BinaryConv2d(3, 5, 3, act_binarizer=dict(type='RSign'),
                        weight_binarizer=dict(type='LearnedScaleWeight'))
    assert conv.act_binarizer.channels == 3 and conv.weight_binarizer.channels == 5
    conv(torch.randn(2, 3, 6, 6)).sum().backward()
    fc = BinaryLinear(6, 2, act_binarizer=dict(type='RSign'),
                      weight_binarizer=dict(type='LearnedScaleWeight'))
    fc(torch.randn(4, 6)).sum().backward()
    assert fc.act_binarizer.bias.grad.shape == (1, 6, 1, 1)
    assert fc.weight_binarizer.scale.grad.shape == (2, )


# ---------------------------------------------------------------------------------- EDEHook
class _EDENet(nn.Module):

    def __init__(self):
        super().__init__()
        self.act = EDESign()
        self.inner = nn.Sequential(EDESign(t_min=0.01, t_max=1.0))
        self.w_ede = IRNetWeight(gradient='ede')
        self.w_identity = IRNetWeight()  # no schedule: left alone


def _expected_t_k(p, t_min=0.1, t_max=10.0):  # independent of mmbnn: log-linear in p
    t = 10 ** (math.log10(t_min) + p * (math.log10(t_max) - math.log10(t_min)))
    return t, max(1 / t, 1.0)


def _check_net(net, p):
    for m, (t_min, t_max) in ((net.act, (0.1, 10.0)), (net.inner[0], (0.01, 1.0)),
                              (net.w_ede, (0.1, 10.0))):
        t, k = _expected_t_k(p, t_min, t_max)
        assert m.t.item() == pytest.approx(t, rel=1e-6)
        assert m.k.item() == pytest.approx(k, rel=1e-6)
    assert not hasattr(net.w_identity, 't')


def test_ede_hook_by_iter():
    hook = HOOKS.build(dict(type='EDEHook'))
    net = _EDENet()
    _check_net(net, 0.0)  # before any update: progress 0 (t = t_min, k = 1 / t_min)
    max_iters = 10
    for it in (0, 5, 9):  # start, middle, end
        runner = SimpleNamespace(model=net, iter=it, max_iters=max_iters, epoch=0, max_epochs=1)
        hook.before_train_epoch(runner)  # no effect by iteration
        hook.before_train_iter(runner, batch_idx=it)
        _check_net(net, it / max_iters)
    # at the very end of the schedule t = t_max and k = 1
    net.act.set_progress(1.0)
    assert net.act.t.item() == pytest.approx(10.0) and net.act.k.item() == 1.0


def test_ede_hook_by_epoch():
    from mmengine.registry import HOOKS as ROOT_HOOKS
    hook = ROOT_HOOKS.build(dict(type='mmbnn.EDEHook', by_epoch=True))
    net = _EDENet()
    for epoch, it in ((0, 0), (2, 13), (3, 19)):
        runner = SimpleNamespace(model=net, iter=it, max_iters=20, epoch=epoch, max_epochs=4)
        hook.before_train_epoch(runner)
        hook.before_train_iter(runner, batch_idx=0)  # no effect by epoch
        _check_net(net, epoch / 4)


def test_ede_hook_unwraps_model_wrappers(monkeypatch):
    import mmbnn.engine.ede_hook as ede_hook

    class Wrapper(nn.Module):

        def __init__(self, module):
            super().__init__()
            self.module = module

    monkeypatch.setattr(ede_hook, 'is_model_wrapper', lambda m: isinstance(m, Wrapper))
    net = _EDENet()
    hook = HOOKS.build(dict(type='EDEHook'))
    hook.before_train_iter(SimpleNamespace(model=Wrapper(net), iter=3, max_iters=4),
                           batch_idx=0)
    _check_net(net, 0.75)


def test_ede_hook_in_a_runner(tmp_path):
    """The hook inside a real mmengine Runner: progress iter / max_iters before each iteration,
    and the gradient of the next backward pass uses it."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    seen = []

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.ede = EDESign()

        def forward(self, inputs, mode='tensor'):
            seen.append(self.ede.t.item())
            loss = self.ede(self.fc(inputs)).sum()
            return dict(loss=loss) if mode == 'loss' else loss

    runner = Runner(
        model=Toy(), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=[dict(inputs=torch.ones(2))] * 8, batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=100),
        custom_hooks=[dict(type='mmbnn.EDEHook')],
        default_hooks=dict(logger=None, checkpoint=None), log_level='WARNING')
    runner.train()
    assert seen == pytest.approx([_expected_t_k(i / 4)[0] for i in range(4)], rel=1e-6)


def test_ede_hook_refuses_what_it_cannot_act_on():
    from mmengine.runner import IterBasedTrainLoop
    with pytest.raises(ValueError, match='by_epoch must be a bool'):
        HOOKS.build(dict(type='EDEHook', by_epoch='yes'))
    hook = HOOKS.build(dict(type='EDEHook'))
    plain = nn.Sequential(nn.Linear(2, 2), IRNetWeight())  # IRNetWeight without EDE
    with pytest.raises(ValueError, match='no EDE module'):
        hook.before_train(SimpleNamespace(model=plain))
    hook.before_train(SimpleNamespace(model=_EDENet()))  # fine
    by_epoch = HOOKS.build(dict(type='EDEHook', by_epoch=True))
    iter_loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    with pytest.raises(ValueError, match='iteration-based'):
        by_epoch.before_train(SimpleNamespace(model=_EDENet(), train_loop=iter_loop))
