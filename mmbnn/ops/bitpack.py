"""Bit packing of binary activations and weights, and the choice of kernel instruction set.

Layout (shared by every kernel of :mod:`mmbnn.ops` and by packed checkpoints,
:mod:`mmbnn.deploy.packing`):

- a binary value ``v`` in {-1, +1} is one bit, **0 for +1 and 1 for -1**, and ``sign(0) = +1``
  (mmbnn's :func:`~mmbnn.binarizers.functional.sign`): the bit is ``not (x - b >= 0)`` for an
  activation ``x`` with threshold ``b`` (0, or RSign's per-channel ``b``), so NaN gives -1 as
  ``sign`` does and -0.0 gives +1;
- activations are packed along the channels, channels-last, in 64-bit words (stored as int64):
  ``(N, H, W, G, Wg)`` for G channel groups of ``Cg = C / G`` channels and ``Wg = ceil(Cg / 64)``
  words per group; channel ``g Cg + 64 j + b`` is bit ``b`` of word ``j`` of group ``g``. Each
  group starts a new word, so a grouped conv reads whole words; tail bits are 0. With
  ``repeat=R`` and ``R * C`` thresholds the input is packed R times, word group ``r G + g``
  binarized with thresholds ``r C + ...`` (the K bases of a Group-Net group reading one input
  through per-base thresholds);
- the weights of output channel ``o`` are one row of ``KH KW Wg`` words, tap-major:
  word ``(ky KW + kx) Wg + j`` holds input channels ``64 j ...`` of tap ``(ky, kx)`` of ``o``'s
  group, tail bits 0.

With these, ``dot(a, w) = n - 2 popcount(a XOR w)`` with ``n`` the true number of taps (the tail
bits are 0 in both operands and their XOR adds nothing), the binary convolution of Larq Compute
Engine's ``core/bitpacking`` and daBNN, with LCE's bit convention (1 for x < 0).

Implementations: the compiled extension ``mmbnn.ops._C`` (a torch-free C++ core with a thin torch
binding, built by the set-up command) and a pure-PyTorch one (:mod:`mmbnn.ops._torch_ops`) that
gives the same integers, floats and bits. Instruction sets of the compiled kernels: ``generic``
(portable C++), ``popcnt`` (the scalar instruction), ``avx2`` (nibble-lookup popcount,
``vpshufb``; Mula, Kurz, Lemire, arXiv 1611.07612), ``avx512bw`` (the same on 512 bits) and
``avx512vpopcnt`` (AVX-512 VPOPCNTQ), each x86 function compiled with its own ``target``
attribute (no ``-march=native``; off x86-64 only ``generic`` exists) and picked at run time:
``auto`` (the default) takes the best one the CPU has. ``torch`` names the pure-PyTorch path. The
environment variable ``MMBNN_BITPACK_ISA`` or an ``isa=`` argument forces one; every choice gives
the same results, so forcing ``generic`` or ``torch`` tests the fallbacks. Without the extension
(a platform where it could not be built) ``auto`` is ``torch``, with one warning.
"""
import os
import warnings
from typing import List, Optional, Sequence

import torch

__all__ = ['ISAS', 'kernel_isa', 'available_isas', 'compiled', 'pack_activations', 'pack_signs',
           'unpack_activations', 'pack_weights', 'unpack_weights', 'num_words', 'load_kernels',
           'prepare_weights', 'TORCH_ISA', 'check_cpu_tensor']

#: Instruction sets by name and their codes in the C++ core; ``torch`` (-1) is the pure-PyTorch
#: implementation.
ISAS = {'auto': 0, 'generic': 1, 'popcnt': 2, 'avx2': 3, 'avx512bw': 4, 'avx512vpopcnt': 5,
        'torch': -1}
TORCH_ISA = ISAS['torch']
_ISA_ENV = 'MMBNN_BITPACK_ISA'
_state = {'loaded': None}  # None: not tried; True / False: the extension imported or not
_checked = {}  # ISA name -> code, once this CPU is known to run it


def load_kernels() -> bool:
    """Import the compiled kernels (``mmbnn.ops._C``, which registers ``torch.ops.mmbnn.*``);
    without them, warn once that the pure-PyTorch implementation runs instead. Returns whether
    they are there."""
    if _state['loaded'] is None:
        try:
            from . import _C  # noqa: F401
            _state['loaded'] = True
        except ImportError as e:
            _state['loaded'] = False
            warnings.warn(
                "mmbnn.ops: the compiled 1-bit kernels (mmbnn.ops._C) are not built "
                f'({e}); binary_conv2d, pack_activations and sparse_binary_conv2d run their '
                'pure-PyTorch implementation (same results, 10-100x slower). Build them with '
                '`pip install --no-build-isolation -e .` and a C++20 compiler.', stacklevel=2)
    return _state['loaded']


def compiled() -> bool:
    """Whether the compiled kernels are available."""
    return load_kernels()


def kernel_isa(isa: Optional[str] = None) -> int:
    """The code of the implementation to run: ``isa``, else ``$MMBNN_BITPACK_ISA``, else
    ``'auto'`` (the best compiled ISA of this CPU, or ``torch`` without the extension). Raises
    ValueError for an unknown name and RuntimeError for one this build or CPU lacks."""
    name = isa if isa is not None else os.environ.get(_ISA_ENV, 'auto')
    code = _checked.get(name)
    if code is not None:
        return code
    if name not in ISAS:
        src = 'isa' if isa is not None else _ISA_ENV
        raise ValueError(f'{src}={name!r} is not one of {sorted(ISAS)}')
    if name == 'torch' or (name == 'auto' and not load_kernels()):
        _checked[name] = TORCH_ISA
        return TORCH_ISA
    if not load_kernels():
        raise RuntimeError(f"the {name!r} kernels need the compiled extension mmbnn.ops._C, "
                           "which is not built; available: ['torch']")
    if not torch.ops.mmbnn.isa_supported(ISAS[name]):
        why = ('is not in this build (x86-64 code compiled out)'
               if not torch.ops.mmbnn.isa_compiled(ISAS[name]) else 'is not supported by this CPU')
        raise RuntimeError(f'the {name!r} kernels {why}; available: {available_isas()}')
    _checked[name] = ISAS[name]
    return ISAS[name]


def available_isas() -> List[str]:
    """Names of the implementations this machine runs, the compiled ISAs best last, then
    ``'torch'`` (``'auto'`` excluded)."""
    names = []
    if load_kernels():
        names = [n for n in ('generic', 'popcnt', 'avx2', 'avx512bw', 'avx512vpopcnt')
                 if torch.ops.mmbnn.isa_supported(ISAS[n])]
    return names + ['torch']


def num_words(channels: int) -> int:
    """64-bit words that hold ``channels`` bits."""
    return (channels + 63) // 64


def check_cpu_tensor(t, name: str, dtype: Optional[torch.dtype] = None,
                     dim: Optional[int] = None) -> torch.Tensor:
    """``t`` if it is a CPU tensor of ``dtype`` with ``dim`` dimensions; else a ValueError
    naming ``name`` (the kernels read CPU memory only)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(t).__name__}')
    if t.device.type != 'cpu':
        raise ValueError(f'{name} is on {t.device}: the 1-bit kernels run on the CPU (move it '
                         f'with .cpu())')
    if dtype is not None and t.dtype != dtype:
        raise ValueError(f'{name} must be {dtype}, got {t.dtype}')
    if dim is not None and t.dim() != dim:
        raise ValueError(f'{name} must have {dim} dimensions, got shape {tuple(t.shape)}')
    return t


def _threshold(threshold, channels: int, repeat: int, name: str = 'threshold'):
    if threshold is None:
        return None
    check_cpu_tensor(threshold, name)
    t = threshold.detach().reshape(-1).float().contiguous()
    if t.numel() != repeat * channels:
        raise ValueError(f'{name} must hold repeat * channels = {repeat * channels} values, '
                         f'got {t.numel()}')
    return t


def pack_activations(x: torch.Tensor, threshold: Optional[torch.Tensor] = None,
                     groups: int = 1, repeat: int = 1, isa: Optional[str] = None) -> torch.Tensor:
    """Binarize and pack ``x`` (N, C, H, W), any strides (channels-last is the fast path),
    float32: bit = ``not (x - b >= 0)``.

    Args:
        x (Tensor): Activations (float32, CPU).
        threshold (Tensor, optional): Per-channel threshold ``b`` (``repeat * C`` values;
            RSign's bias). Default: None (0).
        groups (int): Channel groups G; each starts a new word. Default: 1.
        repeat (int): R packed copies of ``x``, copy r with thresholds ``r C ... (r + 1) C``.
            Default: 1.
        isa (str, optional): Implementation (see :data:`ISAS`). Default: None (auto).

    Returns:
        Tensor: int64 words, (N, H, W, R * G, ceil(C / G / 64)).
    """
    check_cpu_tensor(x, 'x', torch.float32, 4)
    groups, repeat = int(groups), int(repeat)
    if groups < 1 or x.shape[1] % groups:
        raise ValueError(f'channels ({x.shape[1]}) must be divisible by groups ({groups})')
    if repeat < 1:
        raise ValueError(f'repeat must be >= 1, got {repeat}')
    thr = _threshold(threshold, x.shape[1], repeat)
    code = kernel_isa(isa)
    if code == TORCH_ISA:
        return pack_signs(x, thr, groups, repeat)
    return torch.ops.mmbnn.pack_activations(x, thr, groups, repeat, code)


def _words_from_bits(bits: torch.Tensor) -> torch.Tensor:
    """Bool (..., L) -> int64 (..., ceil(L / 64)): bit b of word j = bits[..., 64 j + b]."""
    n = bits.shape[-1]
    w = num_words(n)
    bits = torch.nn.functional.pad(bits.to(torch.int64), (0, 64 * w - n))
    weights = torch.ones(64, dtype=torch.int64) << torch.arange(64)  # 1 << 63 wraps to -2^63
    return (bits.view(*bits.shape[:-1], w, 64) * weights).sum(-1)


def _bits_from_words(words: torch.Tensor, n: int) -> torch.Tensor:
    """The inverse of :func:`_words_from_bits`: int64 (..., W) -> bool (..., n)."""
    bits = (words.unsqueeze(-1) >> torch.arange(64)) & 1
    return bits.flatten(-2)[..., :n].bool()


def pack_signs(x: torch.Tensor, threshold: Optional[torch.Tensor] = None, groups: int = 1,
               repeat: int = 1) -> torch.Tensor:
    """The words of :func:`pack_activations`, computed with torch ops (the pure-PyTorch path and
    the tests' reference). ``x`` is (N, C, H, W) of any floating dtype."""
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f'channels ({c}) must be divisible by groups ({groups})')
    if threshold is None:
        v = x.unsqueeze(1).expand(n, repeat, c, h, w)
    else:
        v = x.unsqueeze(1) - threshold.reshape(1, repeat, c, 1, 1).to(x.dtype)
    neg = ~(v >= 0)
    neg = neg.permute(0, 3, 4, 1, 2).reshape(n, h, w, repeat * groups, c // groups)
    return _words_from_bits(neg)


def unpack_activations(words: torch.Tensor, channels: int,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Packed words (N, H, W, G, Wg) -> {-1, +1} values (N, channels, H, W), G groups of
    ``channels / G`` channels each."""
    n, h, w, g, _ = words.shape
    if channels % g:
        raise ValueError(f'channels ({channels}) must be divisible by the groups ({g})')
    neg = _bits_from_words(words, channels // g)
    return (1 - 2 * neg.to(dtype)).reshape(n, h, w, channels).permute(0, 3, 1, 2).contiguous()


def pack_weights(signs: torch.Tensor) -> torch.Tensor:
    """Weight signs (C_out, C_in / groups, KH, KW) in {-1, +1} (sign(0) = +1) -> int64 words
    (C_out, KH * KW * Wg), tap-major (see the module docstring)."""
    if signs.dim() != 4:
        raise ValueError(f'weights must be (C_out, C_in / groups, KH, KW), got '
                         f'{tuple(signs.shape)}')
    neg = (signs < 0).permute(0, 2, 3, 1)  # (C_out, KH, KW, Cg)
    return _words_from_bits(neg).reshape(signs.shape[0], -1).contiguous()


def unpack_weights(words: torch.Tensor, in_channels: int, kernel_size: Sequence[int],
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The inverse of :func:`pack_weights`: {-1, +1} (C_out, in_channels, KH, KW)."""
    kh, kw = kernel_size
    cout = words.shape[0]
    neg = _bits_from_words(words.view(cout, kh, kw, num_words(in_channels)), in_channels)
    return (1 - 2 * neg.to(dtype)).permute(0, 3, 1, 2).contiguous()


def prepare_weights(weight: torch.Tensor, groups: int = 1,
                    isa: Optional[str] = None) -> Optional[torch.Tensor]:
    """Packed weights (C_out, words) rearranged for an ISA's kernels (blocks of 8 output
    channels, split into nibbles for the lookup-table ISAs): pass the result as ``prepared=``
    to :func:`~mmbnn.ops.binary_conv2d` to skip that step on every call. None for the torch
    path (it reads ``weight`` itself)."""
    check_cpu_tensor(weight, 'weight', torch.int64, 2)
    code = kernel_isa(isa)
    if code == TORCH_ISA:
        return None
    return torch.ops.mmbnn.prepare_weights(weight.contiguous(), int(groups), code)
