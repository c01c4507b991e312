"""Bit packing of activations and weights (mmbnn.ops): layout, sign(0) = +1, thresholds and
repeats, every implementation (compiled ISAs and the pure-PyTorch path), any strides; the choice
of implementation; the extension's build flags."""
import os
import re

import pytest
import torch

from mmbnn.ops import (ISAS, available_isas, compiled, kernel_isa, pack_activations, pack_signs,
                       pack_weights, unpack_activations, unpack_weights)

ISA_LIST = available_isas()


def sign(x):
    return torch.where(x >= 0, 1.0, -1.0)


def with_zeros(x):
    x.view(-1)[::5] = 0.0
    x.view(-1)[1::11] = -0.0
    return x


def test_layout_by_hand():
    """Channel 64 j + b of group g is bit b of word j; bit 1 means -1; tail bits are 0."""
    x = torch.ones(1, 70, 1, 1)
    x[0, [0, 3, 63, 64, 69], 0, 0] = -1.0
    words = pack_activations(x)
    assert words.shape == (1, 1, 1, 1, 2) and words.dtype == torch.int64
    assert words[0, 0, 0, 0, 0].item() == (1 | 1 << 3 | -(1 << 63))  # bit 63 is the sign bit
    assert words[0, 0, 0, 0, 1].item() == (1 | 1 << 5)
    grouped = pack_activations(x, groups=2)  # 35 channels per group, each group its own word
    assert grouped.shape == (1, 1, 1, 2, 1)
    assert grouped[0, 0, 0, 0, 0].item() == (1 | 1 << 3)
    assert grouped[0, 0, 0, 1, 0].item() == (1 << (63 - 35) | 1 << (64 - 35) | 1 << (69 - 35))


@pytest.mark.parametrize('isa', ISA_LIST)
@pytest.mark.parametrize('shape,groups', [((2, 3, 5, 7), 1), ((1, 65, 9, 9), 1),
                                          ((2, 130, 6, 40), 2), ((1, 64, 56, 3), 4),
                                          ((3, 10, 1, 33), 5)])
def test_pack_matches_reference_and_round_trips(isa, shape, groups):
    g = torch.Generator().manual_seed(sum(shape))
    x = with_zeros(torch.randn(shape, generator=g))
    thr = torch.randn(shape[1], generator=g) * 0.3
    for t in (None, thr):
        ref = pack_signs(x, t, groups)
        assert torch.equal(pack_activations(x, t, groups, isa=isa), ref)
        # non-contiguous inputs: channels-last, a transposed view, a strided slice
        assert torch.equal(pack_activations(x.contiguous(memory_format=torch.channels_last), t,
                                            groups, isa=isa), ref)
        xt = x.transpose(2, 3).contiguous().transpose(2, 3)
        assert torch.equal(pack_activations(xt, t, groups, isa=isa), ref)
        wide = torch.zeros(shape[0], shape[1], shape[2], 2 * shape[3])
        wide[..., ::2] = x
        assert torch.equal(pack_activations(wide[..., ::2], t, groups, isa=isa), ref)
        expected = sign(x if t is None else x - t.view(1, -1, 1, 1))
        assert torch.equal(unpack_activations(ref, shape[1]), expected)


@pytest.mark.parametrize('isa', ISA_LIST)
def test_sign_of_zero_nan_and_threshold_ties(isa):
    x = torch.tensor([0.0, -0.0, float('nan'), 1e-45, -1e-45, float('inf'), -float('inf'),
                      0.5]).view(1, 8, 1, 1).repeat(1, 1, 1, 40)
    expected = torch.tensor([1, 1, -1, 1, -1, 1, -1, 1.0])
    assert torch.equal(unpack_activations(pack_activations(x, isa=isa), 8)[0, :, 0, 0],
                       expected)
    thr = torch.full((8, ), 0.5)  # x - b >= 0 exactly at x = b
    got = unpack_activations(pack_activations(x, thr, isa=isa), 8)[0, :, 0, 0]
    assert torch.equal(got, sign(x[0, :, 0, 0] - 0.5))


def test_weights_round_trip():
    g = torch.Generator().manual_seed(0)
    for shape in [(5, 3, 3, 3), (4, 65, 1, 1), (2, 130, 3, 2)]:
        w = sign(torch.randn(shape, generator=g))
        words = pack_weights(w)
        assert words.shape == (shape[0], shape[2] * shape[3] * ((shape[1] + 63) // 64))
        assert torch.equal(unpack_weights(words, shape[1], shape[2:]), w)


@pytest.mark.parametrize('isa', ISA_LIST)
def test_repeat_packs_copies_with_their_own_thresholds(isa):
    """repeat=R: word group r * G + g is x's group g binarized with thresholds r C ... (the K
    bases of a Group-Net group that read one input through per-base thresholds)."""
    g = torch.Generator().manual_seed(9)
    x = with_zeros(torch.randn(2, 70, 5, 6, generator=g))
    thr = torch.randn(3 * 70, generator=g) * 0.5
    words = pack_activations(x, thr, groups=2, repeat=3, isa=isa)
    assert words.shape == (2, 5, 6, 6, 1)
    for r in range(3):
        t = thr[r * 70:(r + 1) * 70]
        assert torch.equal(words[..., 2 * r:2 * r + 2, :], pack_signs(x, t, 2))


def test_isa_choice(monkeypatch):
    assert ISA_LIST[-1] == 'torch' and 'generic' in ISA_LIST
    assert kernel_isa('generic') == ISAS['generic']
    assert kernel_isa('torch') == ISAS['torch']
    with pytest.raises(ValueError, match='not one of'):
        kernel_isa('sse9')
    monkeypatch.setenv('MMBNN_BITPACK_ISA', 'bogus')
    with pytest.raises(ValueError, match='MMBNN_BITPACK_ISA'):
        kernel_isa()
    monkeypatch.setenv('MMBNN_BITPACK_ISA', 'generic')
    assert kernel_isa() == ISAS['generic']
    monkeypatch.delenv('MMBNN_BITPACK_ISA')
    assert kernel_isa() == ISAS['auto']
    missing = [n for n in ('avx2', 'avx512bw', 'avx512vpopcnt') if n not in ISA_LIST]
    for name in missing:  # refused, naming what is missing
        with pytest.raises(RuntimeError, match=f"the '{name}' kernels"):
            kernel_isa(name)


def test_pack_rejects_bad_input():
    with pytest.raises(ValueError, match='divisible by groups'):
        pack_activations(torch.randn(1, 5, 2, 2), groups=2)
    with pytest.raises(ValueError, match='float32'):
        pack_activations(torch.randn(1, 4, 2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match='threshold must hold repeat \\* channels = 4'):
        pack_activations(torch.randn(1, 4, 2, 2), torch.zeros(3))
    with pytest.raises(ValueError, match='= 8 values'):
        pack_activations(torch.randn(1, 4, 2, 2), torch.zeros(4), repeat=2)


def test_x86_code_is_compiled_per_function_not_for_the_whole_build():
    """The extension must run on any x86-64 and build elsewhere: no -m<isa> or -march in its
    compile flags; each x86 kernel carries its own target attribute, and the x86 code is
    guarded by the architecture (compiled out off x86-64 or with MMBNN_PORTABLE)."""
    root = os.path.join(os.path.dirname(__file__), '..')
    setup = open(os.path.join(root, 'setup.py')).read()
    flags = re.search(r"CXX_FLAGS = \[([^\]]*)\]", setup).group(1)
    assert '-O3' in flags and '-std=c++20' in flags and '-ffp-contract=off' in flags
    assert '-fopenmp' in flags  # at::parallel_for's OpenMP region (test_kernels_run_on_...)
    assert not re.search(r"'-m[a-z]", flags), flags
    core = os.path.join(root, 'mmbnn', 'ops', 'csrc', 'core')
    platform = open(os.path.join(core, 'platform.h')).read()
    assert 'defined(__x86_64__)' in platform and 'MMBNN_PORTABLE' in platform
    for name in ('kernels_avx2.cpp', 'kernels_avx512.cpp'):
        src = open(os.path.join(core, name)).read()
        assert '#if MMBNN_X86' in src and 'MMBNN_TARGET(MMBNN_T_' in src, name
        assert '#include <immintrin.h>' not in src  # only platform.h includes it, guarded


@pytest.mark.skipif(not compiled(), reason='mmbnn.ops._C is not built: mmbnn runs its '
                    'pure-PyTorch ops, which have no threads of their own to check')
def test_kernels_run_on_torchs_threads():
    """The kernels split their work over torch.set_num_threads threads (a build without
    -fopenmp drops at::parallel_for's OpenMP region and runs everything on one thread)."""
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert torch.ops.mmbnn.parallel_workers(64) == n
    finally:
        torch.set_num_threads(threads)
