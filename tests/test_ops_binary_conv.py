"""The bit-packed binary convolution (mmbnn.ops.binary_conv2d): integer-exact dot products
against F.conv2d on {-1, +1} tensors, on every implementation this machine runs (the compiled
ISAs and the pure-PyTorch path), the fused epilogue against its formula, bit-identical floats
and bits across implementations, the sum of K bases, the packed-bits output, and the arguments
it refuses."""
import pytest
import torch
import torch.nn.functional as F

from mmbnn.ops import (Activation, available_isas, binary_conv2d, pack_activations,
                       pack_weights, prepare_weights, unpack_activations)

ISA_LIST = available_isas()  # compiled ISAs (best last), then 'torch'


def sign(x):
    return torch.where(x >= 0, 1.0, -1.0)


def reference(x, w, stride, padding, dilation, groups, pad_value):
    """F.conv2d(pad(sign(x), pad_value), sign(w)) in float64 (exact integers)."""
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    xs = F.pad(sign(x).double(), (pw, pw, ph, ph), value=pad_value)
    return F.conv2d(xs, sign(w).double(), None, stride, 0, dilation, groups)


# (N, C_in, H, W, C_out, kernel, stride, padding, dilation, groups): odd channel counts (not
# multiples of 64), stride 2, dilation, batch > 1, rows longer than 31 64-bit words (the AVX2
# byte counters' flush: 256 channels x 9 taps = 36 words, 1000 channels = 144), 1x1 kernels
CASES = [
    (2, 3, 5, 7, 4, 3, 1, 1, 1, 1),      # 3 channels, batch 2
    (1, 65, 9, 9, 5, 3, 2, 1, 1, 1),     # 65 channels (a 1-bit tail word), stride 2
    (2, 130, 6, 11, 6, 3, 1, 2, 2, 2),   # 130 channels in 2 groups, dilation 2
    (1, 64, 8, 8, 8, 1, 1, 0, 1, 1),     # 1x1
    (3, 16, 10, 10, 8, 3, 1, 5, 5, 4),   # groups 4, dilation 5
    (1, 40, 12, 12, 10, 3, 1, 10, 10, 5),  # dilation 10 (BPAC's largest rate), groups = K = 5
    (1, 24, 7, 9, 15, 3, 1, 3, 3, 3),    # odd sizes, 5 output channels per group
    (2, 128, 7, 7, 17, 3, 2, 1, 1, 1),   # stride 2 on an odd map
    (2, 256, 5, 6, 19, 3, 1, 1, 1, 1),   # 36 words per output channel
    (1, 1000, 3, 4, 9, 3, 1, 1, 1, 1),   # 144 words per output channel
    (1, 96, 3, 3, 33, 3, 2, 0, 1, 1),    # no padding, a 1x1 output
]


@pytest.mark.parametrize('isa', ISA_LIST)
@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('pad_value', [1.0, 0.0, -1.0])
def test_dot_products_are_exact(isa, case, pad_value):
    n, c, h, w, cout, k, s, p, d, g = case
    gen = torch.Generator().manual_seed(c * 7 + cout)
    x = torch.randn(n, c, h, w, generator=gen)
    x.view(-1)[::9] = 0.0  # sign(0) = +1
    wt = torch.randn(cout, c // g, k, k, generator=gen)
    ref = reference(x, wt, s, p, d, g, pad_value)
    xp = pack_activations(x, groups=g, isa=isa)
    got = binary_conv2d(xp, pack_weights(sign(wt)), c // g, k, s, p, d, g, pad_value=pad_value,
                        out='dot', isa=isa)
    assert got.dtype == torch.int32 and got.shape == ref.shape
    assert torch.equal(got.double(), ref)


def _epilogue_args(gen, cout, relu=True):
    r = lambda: torch.randn(cout, generator=gen)  # noqa: E731
    return dict(scale=r(), shift=r(), act=Activation(pre=r(), slope=r(), post=r()) if relu
                else None, post_scale=r(), post_shift=r(), act2=Activation(slope=r().abs()))


@pytest.mark.parametrize('case', CASES[:8])
def test_every_implementation_gives_the_same_floats_and_bits(case):
    """The compiled ISAs and the pure-PyTorch path: bit for bit, every epilogue step on."""
    n, c, h, w, cout, k, s, p, d, g = case
    gen = torch.Generator().manual_seed(case[1] + 1)
    x = torch.randn(n, c, h, w, generator=gen)
    wp = pack_weights(sign(torch.randn(cout, c // g, k, k, generator=gen)))
    args = _epilogue_args(gen, cout)
    oh = (h + 2 * p - d * (k - 1) - 1) // s + 1
    ow = (w + 2 * p - d * (k - 1) - 1) // s + 1
    res = torch.randn(n, cout, oh, ow, generator=gen).contiguous(memory_format=torch.channels_last)
    thr = torch.randn(2 * cout, generator=gen)
    outs = []
    for isa in ISA_LIST:
        xp = pack_activations(x, groups=g, isa=isa)
        outs.append(binary_conv2d(xp, wp, c // g, k, s, p, d, g, pad_value=0.0, residual=res,
                                  residual_scale=torch.full((cout, ), 0.5), out='float+bits',
                                  out_threshold=thr, out_repeat=2, isa=isa, **args))
    for (f, b), isa in zip(outs[1:], ISA_LIST[1:]):
        assert torch.equal(f, outs[0][0]), isa
        assert torch.equal(b, outs[0][1]), isa
    assert outs[0][0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('isa', ISA_LIST)
def test_float_epilogue_follows_its_formula(isa):
    """z = post_scale * act(scale * dot + shift) + post_shift + residual_scale * residual, then
    act2, per output channel (act: RPReLU-style shift, PReLU, shift)."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 70, 9, 8, generator=gen)
    wt = torch.randn(12, 35, 3, 3, generator=gen)
    args = _epilogue_args(gen, 12)
    dot = reference(x, wt, 1, 1, 1, 2, 0.0).float()
    res = torch.randn(2, 12, 9, 8, generator=gen)
    rs = torch.randn(12, generator=gen)
    got = binary_conv2d(pack_activations(x, groups=2, isa=isa), pack_weights(sign(wt)), 35, 3,
                        1, 1, 1, 2, pad_value=0.0, residual=res, residual_scale=rs, isa=isa,
                        **args)
    v = lambda t: t.view(1, -1, 1, 1)  # noqa: E731
    a, a2 = args['act'], args['act2']
    z = v(args['scale']) * dot + v(args['shift'])
    z = F.prelu(z - v(a.pre), a.slope) + v(a.post)
    z = v(args['post_scale']) * z + v(args['post_shift']) + v(rs) * res
    z = F.prelu(z, a2.slope)
    torch.testing.assert_close(got, z, rtol=1e-5, atol=1e-4)
    plain = binary_conv2d(pack_activations(x, groups=2, isa=isa), pack_weights(sign(wt)), 35,
                          3, 1, 1, 1, 2, pad_value=0.0, relu=True, isa=isa)
    assert torch.equal(plain, torch.relu(dot))


@pytest.mark.parametrize('isa', ISA_LIST)
def test_bits_output_is_the_next_layers_input(isa):
    """out='bits' packs not (y - threshold >= 0), as pack_activations would, with word groups
    (the next conv's groups) and repeats (the next layer's per-base thresholds)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 33, 6, 7, generator=gen)
    wt = torch.randn(70, 33, 3, 3, generator=gen)
    scale = torch.randn(70, generator=gen)  # negative scales (BN gamma < 0) too
    shift = torch.randn(70, generator=gen) * 5
    xp, wp = pack_activations(x, isa=isa), pack_weights(sign(wt))
    y = binary_conv2d(xp, wp, 33, 3, 1, 1, scale=scale, shift=shift, isa=isa)
    for groups, repeat in ((1, 1), (2, 1), (1, 3), (2, 2)):
        thr = torch.randn(repeat * 70, generator=gen)
        bits = binary_conv2d(xp, wp, 33, 3, 1, 1, scale=scale, shift=shift, out='bits',
                             out_threshold=thr, out_groups=groups, out_repeat=repeat, isa=isa)
        assert bits.shape == (2, 6, 7, repeat * groups, (70 // groups + 63) // 64)
        assert torch.equal(bits, pack_activations(y, thr, groups, repeat, isa=isa))
        r0 = unpack_activations(bits[..., :groups, :], 70)
        assert torch.equal(r0, sign(y - thr[:70].view(1, -1, 1, 1)))


@pytest.mark.parametrize('isa', ISA_LIST)
def test_sum_of_bases_and_shared_residual(isa):
    """sum_bases=K: the K bases' outputs added in base order, equal to the sum of K separate
    calls; a residual of C_out / K channels goes to every base."""
    gen = torch.Generator().manual_seed(7)
    k, c, cout = 3, 20, 16
    x = torch.randn(2, c, 7, 6, generator=gen)
    wt = torch.randn(k * cout, c, 3, 3, generator=gen)
    scale, shift = torch.randn(k * cout, generator=gen), torch.randn(k * cout, generator=gen)
    res = torch.randn(2, cout, 7, 6, generator=gen)
    xp = pack_activations(x, isa=isa)  # one packed copy of the bases' shared input
    got = binary_conv2d(xp, pack_weights(sign(wt)), c, 3, 1, 1, groups=k, pad_value=1.0,
                        scale=scale, shift=shift, residual=res, sum_bases=k, isa=isa)
    assert got.shape == (2, cout, 7, 6)
    parts = [binary_conv2d(xp, pack_weights(sign(wt[i * cout:(i + 1) * cout])), c, 3, 1, 1,
                           pad_value=1.0, scale=scale[i * cout:(i + 1) * cout],
                           shift=shift[i * cout:(i + 1) * cout], residual=res, isa=isa)
             for i in range(k)]
    assert torch.equal(got, parts[0] + parts[1] + parts[2])


@pytest.mark.parametrize('isa', ISA_LIST)
def test_shared_input_and_per_group_geometry(isa):
    """K bases read one packed copy of their shared input (input groups = groups / K), each
    with its own dilation and padding (BPAC: group_padding / group_dilation)."""
    gen = torch.Generator().manual_seed(4)
    k, c, cout = 3, 20, 6
    x = torch.randn(2, c, 11, 10, generator=gen)
    wt = torch.randn(k * cout, c, 3, 3, generator=gen)
    rates = [1, 2, 4]
    got = binary_conv2d(pack_activations(x, isa=isa), pack_weights(sign(wt)), c, 3, 1,
                        groups=k, pad_value=0.0, group_padding=rates, group_dilation=rates,
                        out='dot', isa=isa)
    ref = torch.cat([reference(x, wt[i * cout:(i + 1) * cout], 1, r, r, 1, 0.0)
                     for i, r in enumerate(rates)], 1)
    assert torch.equal(got.double(), ref)
    # (h, w) pairs per group
    got = binary_conv2d(pack_activations(x, isa=isa), pack_weights(sign(wt)), c, 3, 1,
                        groups=k, group_padding=[(1, 2), (2, 4), (4, 8)],
                        group_dilation=[(1, 2), (2, 4), (4, 8)], pad_value=0.0, out='dot',
                        isa=isa)
    ref = torch.cat([reference(x, wt[i * cout:(i + 1) * cout], 1, (r, 2 * r), (r, 2 * r), 1,
                               0.0) for i, r in enumerate(rates)], 1)
    assert torch.equal(got.double(), ref)


def test_prepared_weights_and_threads_give_the_same_result():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 64, 16, 16, generator=gen)
    wp = pack_weights(sign(torch.randn(64, 64, 3, 3, generator=gen)))
    xp = pack_activations(x)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = binary_conv2d(xp, wp, 64, 3, 1, 1, out='dot')
        torch.set_num_threads(2)
        two = binary_conv2d(xp, wp, 64, 3, 1, 1, out='dot', prepared=prepare_weights(wp))
    finally:
        torch.set_num_threads(n)
    assert torch.equal(one, two)
    for i in range(2):  # batch > 1 equals one image at a time
        assert torch.equal(two[i:i + 1], binary_conv2d(xp[i:i + 1], wp, 64, 3, 1, 1, out='dot'))


def test_bad_arguments():
    xp = pack_activations(torch.randn(1, 8, 4, 4))
    wp = pack_weights(sign(torch.randn(4, 8, 3, 3)))
    with pytest.raises(ValueError, match='out must be one of'):
        binary_conv2d(xp, wp, 8, 3, out='int')
    with pytest.raises(ValueError, match='pad_value must be an integer'):
        binary_conv2d(xp, wp, 8, 3, padding=1, pad_value=0.5, out='dot')
    with pytest.raises(ValueError, match='words per output channel'):
        binary_conv2d(xp, wp, 8, 1)
    with pytest.raises(ValueError, match='smaller than'):
        binary_conv2d(xp, wp, 8, 3, dilation=3)
    with pytest.raises(ValueError, match='smaller than'):  # H = 2, K = 3, stride 2: no output
        binary_conv2d(pack_activations(torch.randn(1, 8, 2, 2)), wp, 8, 3, stride=2)
    with pytest.raises(TypeError, match='group_padding'):  # a list is per-group, not (h, w)
        binary_conv2d(xp, wp, 8, 3, padding=[1, 2])
    with pytest.raises(ValueError, match='one int or \\(h, w\\) per group'):
        binary_conv2d(xp, wp, 8, 3, group_padding=[1, 1, 1])
    with pytest.raises(ValueError, match='different output sizes'):
        binary_conv2d(pack_activations(torch.randn(1, 8, 6, 6), groups=2),
                      pack_weights(sign(torch.randn(4, 4, 3, 3))), 4, 3, groups=2,
                      group_padding=[0, 1])
    with pytest.raises(ValueError, match='x \\(packed activations\\) must be torch.int64'):
        binary_conv2d(xp.int(), wp, 8, 3)
    with pytest.raises(ValueError, match='scale must hold 4 values'):
        binary_conv2d(xp, wp, 8, 3, padding=1, scale=torch.ones(3))
    with pytest.raises(ValueError, match='residual must be'):
        binary_conv2d(xp, wp, 8, 3, padding=1, residual=torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match='no epilogue'):
        binary_conv2d(xp, wp, 8, 3, padding=1, out='dot', scale=torch.ones(4))
    with pytest.raises(ValueError, match='sum_bases'):
        binary_conv2d(xp, wp, 8, 3, padding=1, sum_bases=3)


@pytest.mark.parametrize('device', ['meta'])
def test_tensors_off_the_cpu_are_refused_by_name(device):
    """The kernels read CPU memory: a tensor on another device (CUDA where there is one; here a
    'meta' tensor stands for it) is refused, naming the argument."""
    xp = pack_activations(torch.randn(1, 8, 4, 4))
    wp = pack_weights(sign(torch.randn(4, 8, 3, 3)))
    with pytest.raises(ValueError, match=f'x \\(packed activations\\) is on {device}'):
        binary_conv2d(xp.to(device), wp, 8, 3, padding=1)
    with pytest.raises(ValueError, match=f'weight \\(packed\\) is on {device}'):
        binary_conv2d(xp, wp.to(device), 8, 3, padding=1)
    with pytest.raises(ValueError, match=f'scale is on {device}'):
        binary_conv2d(xp, wp, 8, 3, padding=1, scale=torch.ones(4, device=device))
    with pytest.raises(ValueError, match=f'x is on {device}'):
        pack_activations(torch.randn(1, 8, 4, 4, device=device))


def test_the_compiled_op_checks_its_arguments_itself():
    """Called directly (torch.ops.mmbnn), the binding refuses what would read wrong memory:
    non-contiguous words, a wrong dtype, a kernel that does not fit."""
    from mmbnn.ops import compiled
    if not compiled():
        pytest.skip('the compiled extension is not built')
    xp = pack_activations(torch.randn(1, 8, 4, 4))
    wp = pack_weights(sign(torch.randn(4, 8, 3, 3)))
    pad = torch.ones(1, 2, dtype=torch.int64)
    args = [8, wp, None, 1, [3, 3], [1, 1], pad, pad, 1.0, 2] + [None, None, 0, None, None,
                                                                   None, None, None, None, None,
                                                                   0, None, None, None, 1, None,
                                                                   1, 1, 1]
    op = torch.ops.mmbnn.binary_conv2d
    assert op(xp, *args)[0].shape == (1, 4, 4, 4)
    with pytest.raises(ValueError, match='must be contiguous'):
        op(xp.transpose(1, 2), *args)
    with pytest.raises(ValueError, match='must be int64'):
        op(xp.int(), *args)
    small = pack_activations(torch.randn(1, 8, 2, 2))
    bad = list(args)
    bad[5] = [2, 2]  # stride 2, H = 2, padding 0: (2 + 0 - 2 - 1) < 0
    bad[6] = torch.zeros(1, 2, dtype=torch.int64)
    with pytest.raises(ValueError, match='smaller than'):
        op(small, *bad)


#: every implementation, and the CPU features it needs
ALL_ISAS = {'generic': None, 'popcnt': 'POPCNT', 'avx2': 'AVX2',
            'avx512bw': 'AVX-512 F/BW/VL', 'avx512vpopcnt': 'AVX-512 VPOPCNTDQ (and F/BW/VL)',
            'torch': None}


@pytest.mark.parametrize('isa', list(ALL_ISAS))
def test_each_isa_equals_the_portable_path_bit_for_bit(isa):
    """Every ISA against the portable kernels on the shapes above: dots, floats with every
    epilogue step, bits. An ISA this machine cannot run is skipped, naming the CPU feature (its
    code is still checked on any CPU through SIMDe: tests/test_ops_core.py)."""
    if isa not in ISA_LIST:
        pytest.skip(f'this CPU (or build) lacks {ALL_ISAS[isa]}: the {isa!r} kernels cannot run '
                    'here')
    for case in CASES:
        n, c, h, w, cout, k, s, p, d, g = case
        gen = torch.Generator().manual_seed(c + 11)
        x = torch.randn(n, c, h, w, generator=gen)
        wp = pack_weights(sign(torch.randn(cout, c // g, k, k, generator=gen)))
        args = _epilogue_args(gen, cout)
        thr = torch.randn(cout, generator=gen)
        outs = {}
        for impl in ('generic', isa):
            xp = pack_activations(x, groups=g, isa=impl)
            outs[impl] = (binary_conv2d(xp, wp, c // g, k, s, p, d, g, pad_value=0.0, out='dot',
                                        isa=impl),
                          *binary_conv2d(xp, wp, c // g, k, s, p, d, g, pad_value=1.0,
                                         out='float+bits', out_threshold=thr, isa=impl, **args))
        for a, b in zip(outs['generic'], outs[isa]):
            assert torch.equal(a, b), (isa, case)
