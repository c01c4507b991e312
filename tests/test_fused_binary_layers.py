"""The fused binary conv / linear functions (mmbnn.layers.binary_conv_function) against the
reference path (binarizer modules, then F.conv2d with the scaled weight): values and gradients
(input, weight, binarizer parameters) per activation and weight binarizer over inputs with exact
zeros and |x| = 1, what they keep for backward, order independence, the K-base execution forms,
and whole models (a fixed batch: same losses and gradients)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.binarizers._kernels import train_kernels, train_kernels_disabled
from mmbnn.binarizers.sign_grad import ApproxGrad, pack_bits, unpack_bits, unpack_signs
from mmbnn.layers import (BinaryConv2d, BinaryLinear, MultiBaseBinaryConv2d,
                          MultiDilationBinaryConv2d, explicit_bases)
from mmbnn.layers.binary_conv_function import reference_binary_layers

ACTS = [dict(type='STESign'), dict(type='STESign', clip_value=0.5), dict(type='IdentitySTESign'),
        dict(type='ApproxSign'), dict(type='SwishSign'), dict(type='EDESign'), dict(type='RSign')]
WEIGHTS = [dict(type='XNORWeight'), dict(type='SignWeight'), dict(type='LayerScaleWeight'),
           dict(type='LearnedScaleWeight'), dict(type='IRNetWeight'),
           dict(type='IRNetWeight', gradient='ede')]


def special_input(shape, dtype=torch.float64, seed=0):
    """Random values with exact zeros, +-1 and +-0.5 planted in every sample."""
    x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    flat = x.view(x.shape[0], -1)
    flat[:, :3] = 0
    flat[:, 3:5] = 1
    flat[:, 5:7] = -1
    flat[:, 7] = 0.5
    flat[:, 8] = -0.5
    return x


def randomise(module, seed=1):
    """Parameters away from their constant initial values (thresholds, learned scales)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'act_binarizer' in name:  # thresholds on the grid of special_input's values
                p.copy_(torch.randint(-2, 3, p.shape, generator=g).to(p) * 0.5)
            elif 'weight_binarizer' in name:
                p.copy_(torch.rand(p.shape, generator=g).to(p) + 0.5)
    for m in module.modules():
        if hasattr(m, 'set_progress') and getattr(m, 'has_ede_schedule', False):
            m.set_progress(0.4)
    return module


def value_and_grads(module, x, reference, **kwargs):
    x = x.clone().requires_grad_(True)
    with reference_binary_layers(reference):
        y = module(x, **kwargs)
    grad = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(2))
    y.backward(grad)
    out = {'y': y.detach(), 'x': x.grad}
    out.update({n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None})
    module.zero_grad(set_to_none=True)
    return out


def assert_same(a, b, **tol):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=lambda m, k=k: f'{k}: {m}', **tol)


@pytest.mark.parametrize('act', ACTS, ids=lambda c: str(c.get('clip_value', c['type'])))
@pytest.mark.parametrize('kwargs', [dict(padding=1), dict(padding=1, stride=2, pad_value=1.0),
                                    dict(padding=2, dilation=2, groups=2, bias=True)],
                         ids=['zero-pad', 'one-pad-stride2', 'dilated-groups-bias'])
def test_conv_matches_reference_per_activation_binarizer(act, kwargs):
    kwargs = dict(dict(bias=False), **kwargs)
    conv = randomise(BinaryConv2d(4, 6, 3, act_binarizer=act, **kwargs).double())
    x = special_input((2, 4, 7, 7))
    assert conv.fused_parts(x) is not None
    assert_same(value_and_grads(conv, x, False), value_and_grads(conv, x, True),
                rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('weight', WEIGHTS, ids=lambda c: c['type'] + c.get('gradient', ''))
def test_conv_matches_reference_per_weight_binarizer(weight):
    conv = randomise(BinaryConv2d(4, 6, 3, padding=1, weight_binarizer=weight,
                                  act_binarizer=dict(type='ApproxSign')).double())
    x = special_input((2, 4, 6, 6))
    assert conv.fused_parts(x) is not None
    assert_same(value_and_grads(conv, x, False), value_and_grads(conv, x, True),
                rtol=1e-10, atol=1e-12)


def test_zero_scale_rows_get_the_exact_scale_gradient():
    """A row whose scale is 0 (all its weights 0): dL/dalpha cannot come from (alpha G) / alpha;
    the function computes G itself there."""
    conv = BinaryConv2d(3, 4, 3, padding=1, weight_binarizer=dict(type='LearnedScaleWeight'),
                        bias=False).double()
    with torch.no_grad():
        conv.weight_binarizer.scale.copy_(torch.tensor([0.0, 1.5, -2.0, 0.7]))
    x = special_input((2, 3, 5, 5))
    assert_same(value_and_grads(conv, x, False), value_and_grads(conv, x, True),
                rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('act', [dict(type='STESign'), dict(type='ApproxSign'),
                                 dict(type='RSign')], ids=lambda c: c['type'])
def test_linear_matches_reference(act):
    lin = randomise(BinaryLinear(9, 5, act_binarizer=act).double())
    x = special_input((4, 9))
    assert lin.fused_parts(x) is not None
    assert_same(value_and_grads(lin, x, False), value_and_grads(lin, x, True),
                rtol=1e-10, atol=1e-12)


def test_unsupported_configurations_take_the_reference_path():
    x = torch.randn(1, 2, 5, 5)
    for conv in [BinaryConv2d(2, 3, 3, padding=1, padding_mode='reflect'),
                 BinaryConv2d(2, 3, 3, padding='same'),
                 BinaryConv2d(2, 3, 3, weight_binarizer=dict(type='DoReFaWeight')),
                 BinaryConv2d(2, 3, 3, act_binarizer=dict(type='DoReFaActivation')),
                 BinaryConv2d(2, 3, 3, act_binarizer=None)]:
        assert conv.fused_parts(x) is None
    conv = BinaryConv2d(2, 3, 3)
    assert conv.fused_parts(x) is not None
    handle = conv.act_binarizer.register_forward_hook(lambda *a: None)
    assert conv.fused_parts(x) is None  # a hook on the binarizer must still see its calls
    handle.remove()
    with reference_binary_layers():
        assert conv.fused_parts(x) is None


# ------------------------------------------------------------------- what is kept for backward
def saved_for_backward(module, x):
    """(tensors saved, excluding the module's parameters and x's own storage)."""
    skip = {t.untyped_storage().data_ptr() for t in list(module.parameters()) + [x]}
    saved = []

    def pack(t):
        if t.untyped_storage().data_ptr() not in skip:
            saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = module(x)
    y.sum().backward()
    return saved


@pytest.mark.parametrize('act,bits_per_input', [
    (dict(type='IdentitySTESign'), 1), (dict(type='STESign'), 2),
    (dict(type='ApproxSign', saved_bits=8), 9), (dict(type='ApproxSign', saved_bits=16), 17),
    (dict(type='ApproxSign'), 0)],  # keeps x itself (excluded), nothing else of its size
    ids=['identity', 'ste', 'approx8', 'approx16', 'approx-exact'])
def test_conv_keeps_only_bits(act, bits_per_input):
    conv = BinaryConv2d(16, 32, 3, padding=1, bias=False, act_binarizer=act)
    x = torch.randn(4, 16, 8, 8, requires_grad=True)
    saved = saved_for_backward(conv, x)
    assert all(t.dtype != torch.float32 or t.numel() <= conv.out_channels for t in saved), \
        'no float tensor of an activation or a weight'
    total = sum(8 * t.numel() * t.element_size() for t in saved)
    weight_bits = conv.weight.numel()  # the weight's signs, packed
    assert total <= bits_per_input * x.numel() + weight_bits + 32 * conv.out_channels
    with reference_binary_layers():  # the reference keeps float signs of both
        ref = saved_for_backward(conv, x)
    assert sum(8 * t.numel() * t.element_size() for t in ref) >= 32 * (x.numel() +
                                                                       conv.weight.numel())


@pytest.mark.parametrize('bits,levels', [(8, 255), (16, 32767)])
def test_approx_sign_saved_bits_bound_the_slope_error(bits, levels):
    x = torch.cat([special_input((1, 4000)).float().view(-1),
                   torch.linspace(-1.5, 1.5, 3001)])
    exact = (2 - 2 * x.abs()).clamp_min(0)
    rule = ApproxGrad(bits)
    signs, saved = rule.encode(x)
    torch.testing.assert_close(signs, torch.where(x >= 0, 1.0, -1.0))
    slope = rule.grad(saved, torch.ones_like(x), x.shape)
    assert (slope - exact).abs().max() <= 1.0 / levels + 1e-6
    at_ends = (x == 0) | (x.abs() >= 1)
    torch.testing.assert_close(slope[at_ends], exact[at_ends], rtol=0, atol=1e-6)
    conv = BinaryConv2d(3, 4, 3, act_binarizer=dict(type='ApproxSign', saved_bits=bits))
    exact_conv = BinaryConv2d(3, 4, 3, act_binarizer=dict(type='ApproxSign'))
    exact_conv.load_state_dict(conv.state_dict())
    xc = special_input((2, 3, 6, 6), torch.float32)
    a, b = value_and_grads(conv, xc, False), value_and_grads(exact_conv, xc, False)
    torch.testing.assert_close(a['y'], b['y'])
    # dL/dx = dL/dsign * slope: off by at most |dL/dsign| / levels
    grad_y = torch.randn(a['y'].shape, generator=torch.Generator().manual_seed(2))
    w_b = exact_conv.weight_binarizer(exact_conv.weight).detach()
    grad_signs = torch.nn.grad.conv2d_input(xc.shape, w_b, grad_y)
    assert ((a['x'] - b['x']).abs() <= grad_signs.abs() / levels + 1e-6).all()
    assert not torch.equal(a['x'], b['x'])  # the levels do show


def test_bit_packing_round_trip():
    mask = torch.rand(3, 13) > 0.5
    packed = pack_bits(mask)
    assert packed.dtype == torch.uint8 and packed.numel() == (39 + 7) // 8
    assert torch.equal(unpack_bits(packed, mask.shape), mask)
    assert torch.equal(unpack_signs(packed, mask.shape), torch.where(mask, 1.0, -1.0))


# ---------------------------------------------------------------------------- order independence
def test_binary_sums_do_not_depend_on_threads_or_execution():
    """Integer sums of +-1 are exact in float32: one grouped conv, K per-base convs and any
    number of threads give the very same floats."""
    torch.manual_seed(0)
    conv = BinaryConv2d(3 * 64, 3 * 32, 3, padding=1, groups=3, pad_value=1.0, bias=False,
                        act_binarizer=dict(type='ApproxSign'))
    conv.execution_bases = 3
    x = torch.randn(2, 3 * 64, 9, 9)
    outs = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            for per_base in (False, True):
                conv.per_base = lambda *a, per_base=per_base, **k: per_base
                with torch.no_grad():
                    outs.append(conv(x))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    alpha = conv.weight.detach().abs().mean((1, 2, 3))
    integer = (outs[0] / alpha.view(1, -1, 1, 1)).double()
    assert (integer - integer.round()).abs().max() < 1e-3  # y = (integer sum) * alpha


# ----------------------------------------------------------------------- K bases, shared inputs
@pytest.mark.parametrize('cls', [BinaryConv2d, MultiDilationBinaryConv2d])
@pytest.mark.parametrize('groups_per_base', [1, 2, 4])
@pytest.mark.parametrize('reference', [False, True], ids=['fused', 'reference'])
def test_forward_shared_is_forward_of_the_repeated_input(cls, groups_per_base, reference):
    """forward_shared(x) == forward(x.repeat(1, K, 1, 1)), values and gradients."""
    k = 2
    kwargs = dict(dilations=(1, 2)) if cls is MultiDilationBinaryConv2d else dict(padding=1)
    conv = cls(k * 8, k * 8, 3, groups=k * groups_per_base, pad_value=1.0,
               act_binarizer=dict(type='ApproxSign'), **kwargs).double()
    x = special_input((2, 8, 6, 6))
    for execution_bases in (1, k):
        conv.execution_bases = execution_bases
        shared = value_and_grads(conv, x, reference, num_shared_bases=k)
        xr = x.clone().requires_grad_(True)
        with reference_binary_layers(reference):
            y = conv(xr.repeat(1, k, 1, 1))
        y.backward(torch.randn(y.shape, dtype=y.dtype,
                               generator=torch.Generator().manual_seed(2)))
        repeated = {'y': y.detach(), 'x': xr.grad}
        repeated.update({n: p.grad.clone() for n, p in conv.named_parameters()})
        conv.zero_grad(set_to_none=True)
        assert_same(shared, repeated, rtol=1e-10, atol=1e-12)


def test_per_base_and_grouped_execution_agree():
    conv = randomise(BinaryConv2d(3 * 4, 3 * 6, 3, padding=1, groups=3, bias=True,
                                  act_binarizer=dict(type='RSign')).double())
    conv.execution_bases = 3
    x = special_input((2, 12, 5, 5))
    results = []
    for per_base in (False, True):
        conv.per_base = lambda *a, per_base=per_base, **k: per_base
        results.append(value_and_grads(conv, x, False))
    assert_same(*results, rtol=1e-10, atol=1e-12)
    assert_same(results[0], value_and_grads(conv, x, True), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('act', [dict(type='ApproxSign'), dict(type='BaseShiftSign')],
                         ids=['shared', 'per-base-thresholds'])
def test_multi_base_conv_matches_reference(act):
    m = randomise(MultiBaseBinaryConv2d(4, 6, 3, padding=1, num_bases=3,
                                        act_binarizer=act).double())
    x = special_input((2, 4, 5, 5))
    with explicit_bases():
        assert_same(value_and_grads(m, x, False), value_and_grads(m, x, True),
                    rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------------------------- the kernels
@pytest.mark.skipif(train_kernels() is None, reason='mmbnn.ops._C built without train_ops.cpp')
@pytest.mark.parametrize('act', [dict(type='STESign'), dict(type='IdentitySTESign'),
                                 dict(type='ApproxSign'), dict(type='SwishSign')],
                         ids=lambda c: c['type'])
def test_kernels_match_the_pytorch_path(act):
    conv = BinaryConv2d(2 * 16, 2 * 8, 3, padding=1, groups=2, pad_value=1.0,
                        act_binarizer=act)
    conv.execution_bases = 2
    x = special_input((3, 32, 7, 7), torch.float32)
    for per_base in (False, True):
        conv.per_base = lambda *a, per_base=per_base, **k: per_base
        with train_kernels_disabled():
            expected = value_and_grads(conv, x, False)
        assert_same(value_and_grads(conv, x, False), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(train_kernels() is None, reason='mmbnn.ops._C built without train_ops.cpp')
@pytest.mark.parametrize('act', [dict(type='STESign'), dict(type='ApproxSign')],
                         ids=lambda c: c['type'])
def test_kernels_give_the_same_floats_on_any_number_of_threads(act):
    """Values and gradients do not depend on torch.set_num_threads: inputs large enough that
    every kernel splits its work (over 2 x 16 kB of packed bits, more rows than threads)."""
    conv = randomise(BinaryConv2d(64, 64, 3, padding=1, act_binarizer=act,
                                  weight_binarizer=dict(type='XNORWeight')))
    x = special_input((4, 64, 32, 32), torch.float32)
    threads, outs = torch.get_num_threads(), []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.append(value_and_grads(conv, x, False))
    finally:
        torch.set_num_threads(threads)
    for other in outs[1:]:
        assert_same(other, outs[0], rtol=0, atol=0)


# ------------------------------------------------------------------------------ whole models
def tiny_models():
    from mmbnn.models.backbones import GroupNetResNet
    bireal = dict(num_bases=1, downsample='avgpool', act_cfg=None, order=('norm', 'add'),
                  conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                                weight_binarizer=dict(type='XNORWeight')))
    common = dict(depth=18, stem='cifar', stem_channels=8, base_channels=8)
    return {'groupnet-k3': GroupNetResNet(num_bases=3, **common),
            'bireal': GroupNetResNet(**bireal, **common)}


@pytest.mark.parametrize('name', ['groupnet-k3', 'bireal'])
def test_models_train_alike_fused_and_reference(name):
    """A fixed batch: the same loss and gradients through the fused functions as through the
    reference path (float64: to rounding), and far fewer bytes kept for backward.

    Group-Net's unit puts a ReLU right after the binary conv, whose gradient at exactly 0 is 0:
    the fused conv's integer sums are exactly 0 wherever the +-1 products cancel, the reference's
    ``conv(sign(x), alpha S)`` leaves a rounding residue there (alpha is no power of 2), so the two
    may take different sides of the kink. The binary weights are therefore set to +-1/4 (alpha
    a power of 2: the reference's sums are exact as well); Bi-Real (no ReLU) keeps random ones.
    """
    torch.manual_seed(0)
    backbone = tiny_models()[name].double().train()
    if name.startswith('groupnet'):
        with torch.no_grad():
            for m in backbone.modules():
                if isinstance(m, BinaryConv2d):
                    m.weight.copy_(torch.where(torch.rand_like(m.weight) > 0.5, 0.25, -0.25))
    head = nn.Linear(64, 10).double()
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    target = torch.tensor([0, 3, 5, 9])
    results, saved = [], []
    for reference in (False, True):
        stored = {}

        def pack(t):
            stored[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with reference_binary_layers(reference), \
                torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = F.cross_entropy(head(backbone(x)[-1].mean((2, 3))), target)
        loss.backward()
        results.append({'loss': loss.detach(), **{n: p.grad.clone()
                                                  for n, p in backbone.named_parameters()}})
        saved.append(sum(stored.values()))
        backbone.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)
    assert_same(*results, rtol=1e-9, atol=1e-11)
    assert saved[0] < saved[1] / 2
