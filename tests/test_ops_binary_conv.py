"""The bit-packed binary convolution (mmbnn.ops.binary_conv2d): integer-exact dot products
against F.conv2d on {-1, +1} tensors, on every instruction set; the float epilogue and the
packed-bits output."""
import pytest
import torch
import torch.nn.functional as F

from mmbnn.ops import (available_isas, binary_conv2d, pack_activations, pack_weights,
                       unpack_activations)

ISA_LIST = available_isas()


def sign(x):
    return torch.where(x >= 0, 1.0, -1.0)


def reference(x, w, stride, padding, dilation, groups, pad_value):
    """F.conv2d(pad(sign(x), pad_value), sign(w)) in float64 (exact integers)."""
    xs = F.pad(sign(x).double(), (padding, ) * 4, value=pad_value)
    return F.conv2d(xs, sign(w).double(), None, stride, 0, dilation, groups)


# (N, C_in, H, W, C_out, kernel, stride, padding, dilation, groups)
CASES = [
    (2, 3, 5, 7, 4, 3, 1, 1, 1, 1),      # 3 channels, batch 2
    (1, 65, 9, 9, 5, 3, 2, 1, 1, 1),     # 65 channels (a 1-bit tail word), stride 2
    (2, 130, 6, 11, 6, 3, 1, 2, 2, 2),   # 130 channels in 2 groups, dilation 2
    (1, 64, 8, 8, 8, 1, 1, 0, 1, 1),     # 1x1
    (3, 16, 10, 10, 8, 3, 1, 5, 5, 4),   # groups 4, dilation 5
    (1, 40, 12, 12, 10, 3, 1, 10, 10, 5),  # dilation 10 (BPAC's largest rate), groups = K = 5
    (1, 24, 7, 9, 15, 3, 1, 3, 3, 3),    # odd sizes, 5 output channels per group
    (2, 128, 7, 7, 17, 3, 2, 1, 1, 1),   # stride 2 on an odd map
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


def test_every_isa_gives_the_same_floats():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 96, 13, 11, generator=gen)
    wt = torch.randn(21, 96, 3, 3, generator=gen)
    scale, shift = torch.rand(21, generator=gen) - 0.3, torch.randn(21, generator=gen)
    post_s, post_t = torch.randn(21, generator=gen), torch.randn(21, generator=gen)
    outs = [binary_conv2d(pack_activations(x, isa=isa), pack_weights(sign(wt)), 96, 3, 1, 1,
                          pad_value=0.0, scale=scale, shift=shift, relu=True,
                          post_scale=post_s, post_shift=post_t, isa=isa) for isa in ISA_LIST]
    for o in outs[1:]:
        assert torch.equal(o, outs[0])


@pytest.mark.parametrize('isa', ISA_LIST)
def test_float_epilogue(isa):
    """y = post_scale * relu(scale * dot + shift) + post_shift, per output channel."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 70, 9, 8, generator=gen)
    wt = torch.randn(12, 35, 3, 3, generator=gen)
    scale = torch.randn(12, generator=gen)  # negative scales too
    shift, post_s, post_t = (torch.randn(12, generator=gen) for _ in range(3))
    dot = reference(x, wt, 1, 1, 1, 2, 0.0).float()
    xp = pack_activations(x, groups=2, isa=isa)
    wp = pack_weights(sign(wt))
    v = lambda t: t.view(1, -1, 1, 1)  # noqa: E731
    got = binary_conv2d(xp, wp, 35, 3, 1, 1, 1, 2, pad_value=0.0, scale=scale, shift=shift,
                        isa=isa)
    torch.testing.assert_close(got, v(scale) * dot + v(shift), rtol=1e-6, atol=1e-5)
    got = binary_conv2d(xp, wp, 35, 3, 1, 1, 1, 2, pad_value=0.0, scale=scale, shift=shift,
                        relu=True, post_scale=post_s, post_shift=post_t, isa=isa)
    expected = v(post_s) * torch.relu(v(scale) * dot + v(shift)) + v(post_t)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize('isa', ISA_LIST)
def test_bits_output_is_the_next_layers_input(isa):
    """out='bits' packs not (y - threshold >= 0), negative scales (BN gamma < 0) included."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 33, 6, 7, generator=gen)
    wt = torch.randn(70, 33, 3, 3, generator=gen)
    scale = torch.randn(70, generator=gen)
    shift = torch.randn(70, generator=gen) * 5
    thr = torch.randn(70, generator=gen)
    xp, wp = pack_activations(x, isa=isa), pack_weights(sign(wt))
    y = binary_conv2d(xp, wp, 33, 3, 1, 1, scale=scale, shift=shift, isa=isa)
    for groups in (1, 2):
        bits = binary_conv2d(xp, wp, 33, 3, 1, 1, scale=scale, shift=shift, out='bits',
                             out_threshold=thr, out_groups=groups, isa=isa)
        assert torch.equal(bits, pack_activations(y, thr, groups, isa=isa))
        assert torch.equal(unpack_activations(bits, 70), sign(y - thr.view(1, -1, 1, 1)))


@pytest.mark.parametrize('isa', ISA_LIST)
def test_shared_input_and_per_group_geometry(isa):
    """K bases read one packed copy of their shared input (input groups = groups / K), each
    with its own dilation and padding (BPAC)."""
    gen = torch.Generator().manual_seed(4)
    k, c, cout = 3, 20, 6
    x = torch.randn(2, c, 11, 10, generator=gen)
    wt = torch.randn(k * cout, c, 3, 3, generator=gen)
    rates = [1, 2, 4]
    got = binary_conv2d(pack_activations(x, isa=isa), pack_weights(sign(wt)), c, 3, 1,
                        padding=rates, dilation=rates, groups=k, pad_value=0.0, out='dot',
                        isa=isa)
    ref = torch.cat([reference(x, wt[i * cout:(i + 1) * cout], 1, r, r, 1, 0.0)
                     for i, r in enumerate(rates)], 1)
    assert torch.equal(got.double(), ref)


def test_non_contiguous_and_large_batch_match_the_loop():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(5, 48, 9, 9, generator=gen).contiguous(memory_format=torch.channels_last)
    wt = torch.randn(16, 48, 3, 3, generator=gen)
    wp = pack_weights(sign(wt))
    batch = binary_conv2d(pack_activations(x), wp, 48, 3, 1, 1, out='dot')
    for i in range(5):
        one = binary_conv2d(pack_activations(x[i:i + 1]), wp, 48, 3, 1, 1, out='dot')
        assert torch.equal(batch[i:i + 1], one)


def test_threads_give_the_same_result():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 64, 16, 16, generator=gen)
    wp = pack_weights(sign(torch.randn(64, 64, 3, 3, generator=gen)))
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = binary_conv2d(pack_activations(x), wp, 64, 3, 1, 1, out='dot')
        torch.set_num_threads(2)
        two = binary_conv2d(pack_activations(x), wp, 64, 3, 1, 1, out='dot')
    finally:
        torch.set_num_threads(n)
    assert torch.equal(one, two)


def test_bad_arguments():
    xp = pack_activations(torch.randn(1, 8, 4, 4))
    wp = pack_weights(sign(torch.randn(4, 8, 3, 3)))
    with pytest.raises(ValueError, match='out must be one of'):
        binary_conv2d(xp, wp, 8, 3, out='int')
    with pytest.raises(ValueError, match='pad_value must be an integer'):
        binary_conv2d(xp, wp, 8, 3, padding=1, pad_value=0.5, out='dot')
    with pytest.raises(RuntimeError, match='words per output channel'):
        binary_conv2d(xp, wp, 8, 1)
    with pytest.raises(ValueError, match='too small'):
        binary_conv2d(xp, wp, 8, 3, dilation=3)
    with pytest.raises(ValueError, match='one value per group'):
        binary_conv2d(xp, wp, 8, 3, padding=[1, 1, 1], groups=1)
