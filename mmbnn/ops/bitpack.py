"""Bit packing of binary activations and weights, and the choice of kernel instruction set.

Layout (shared by every kernel of :mod:`mmbnn.ops`):

- a binary value ``v`` in {-1, +1} is one bit, **0 for +1 and 1 for -1**, and ``sign(0) = +1``
  (mmbnn's :func:`~mmbnn.binarizers.functional.sign`): the bit is ``not (x - b >= 0)`` for an
  activation ``x`` with threshold ``b`` (0, or RSign's per-channel ``b``), so NaN gives -1 as
  ``sign`` does and -0.0 gives +1;
- activations are packed along the channels, channels-last, in 64-bit words (stored as int64):
  ``(N, H, W, G, Wg)`` for G channel groups of ``Cg = C / G`` channels and ``Wg = ceil(Cg / 64)``
  words per group; channel ``g Cg + 64 j + b`` is bit ``b`` of word ``j`` of group ``g``. Each
  group starts a new word, so a grouped conv reads whole words; tail bits are 0;
- the weights of output channel ``o`` are one row of ``KH KW Wg`` words, tap-major:
  word ``(ky KW + kx) Wg + j`` holds input channels ``64 j ...`` of tap ``(ky, kx)`` of ``o``'s
  group, tail bits 0.

With these, ``dot(a, w) = n - 2 popcount(a XOR w)`` with ``n`` the true number of taps (the tail
bits are 0 in both operands and their XOR adds nothing), the binary convolution of Larq Compute
Engine's ``core/bitpacking`` and daBNN, with LCE's bit convention (1 for x < 0).

Instruction sets: the kernels are compiled for ``generic`` x86-64 (SWAR popcount), ``popcnt``
(the scalar instruction) and ``avx2`` (nibble-lookup popcount, ``vpshufb``; Mula, Kurz, Lemire,
arXiv 1611.07612), each function with its own ``target`` attribute (no ``-march=native``), and
picked at run time: ``auto`` (the default) takes the best one the CPU has. The environment
variable ``MMBNN_BITPACK_ISA`` or an ``isa=`` argument forces one; every ISA gives the same
integers, so forcing ``generic`` tests the portable fallback.
"""
import os
from typing import Optional, Sequence

import torch

__all__ = ['ISAS', 'kernel_isa', 'available_isas', 'pack_activations', 'pack_signs',
           'unpack_activations', 'pack_weights', 'unpack_weights', 'num_words', 'load_kernels']

#: Instruction sets of the kernels, by name, and their codes in the C++ library.
ISAS = {'auto': 0, 'generic': 1, 'popcnt': 2, 'avx2': 3}
_ISA_ENV = 'MMBNN_BITPACK_ISA'
_loaded = False
_checked = {}  # ISA name -> code, once this CPU is known to run it


def load_kernels() -> None:
    """Load the compiled kernels (``mmbnn.ops._C``, which registers ``torch.ops.mmbnn.*``)."""
    global _loaded
    if _loaded:
        return
    try:
        from . import _C  # noqa: F401
    except ImportError as e:  # pragma: no cover - only without a build
        raise ImportError(
            "mmbnn's bit-packed kernels (mmbnn.ops._C) are not built. Install mmbnn with "
            '`bash tools/setup_env.sh` or `pip install --no-build-isolation --use-pep517 -e .`, '
            'or build them in place with `python setup.py build_ext --inplace`.') from e
    _loaded = True


def kernel_isa(isa: Optional[str] = None) -> int:
    """The code of the instruction set to run: ``isa``, else ``$MMBNN_BITPACK_ISA``, else
    ``'auto'``. Raises ValueError for an unknown name and RuntimeError for one this CPU lacks."""
    name = isa if isa is not None else os.environ.get(_ISA_ENV, 'auto')
    code = _checked.get(name)
    if code is not None:
        return code
    if name not in ISAS:
        src = 'isa' if isa is not None else _ISA_ENV
        raise ValueError(f'{src}={name!r} is not one of {sorted(ISAS)}')
    load_kernels()
    if not torch.ops.mmbnn.isa_supported(ISAS[name]):
        raise RuntimeError(f"this CPU does not support the {name!r} kernels; available: "
                           f'{available_isas()}')
    _checked[name] = ISAS[name]
    return ISAS[name]


def available_isas() -> list:
    """Names of the instruction sets this CPU runs, best last (``'auto'`` excluded)."""
    load_kernels()
    return [n for n in ('generic', 'popcnt', 'avx2') if torch.ops.mmbnn.isa_supported(ISAS[n])]


def num_words(channels: int) -> int:
    """64-bit words that hold ``channels`` bits."""
    return (channels + 63) // 64


def pack_activations(x: torch.Tensor, threshold: Optional[torch.Tensor] = None,
                     groups: int = 1, isa: Optional[str] = None) -> torch.Tensor:
    """Binarize and pack ``x`` (N, C, H, W), any strides, float32: bit = ``not (x - b >= 0)``.

    Args:
        x (Tensor): Activations (float32, CPU).
        threshold (Tensor, optional): Per-channel threshold ``b`` (C values; RSign's bias).
            Default: None (0).
        groups (int): Channel groups G; each starts a new word. Default: 1.
        isa (str, optional): Instruction set (see :data:`ISAS`). Default: None (auto).

    Returns:
        Tensor: int64 words, (N, H, W, G, ceil(C / G / 64)).
    """
    load_kernels()
    thr = None if threshold is None else threshold.detach().reshape(-1).float().contiguous()
    return torch.ops.mmbnn.pack_activations(x, thr, int(groups), kernel_isa(isa))


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


def pack_signs(x: torch.Tensor, threshold: Optional[torch.Tensor] = None,
               groups: int = 1) -> torch.Tensor:
    """The same words as :func:`pack_activations`, computed with torch ops (the reference the
    tests hold the kernel to; slow). ``x`` is (N, C, H, W) of any floating dtype."""
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f'channels ({c}) must be divisible by groups ({groups})')
    v = x if threshold is None else x - threshold.reshape(1, c, 1, 1).to(x.dtype)
    neg = ~(v >= 0)
    neg = neg.permute(0, 2, 3, 1).reshape(n, h, w, groups, c // groups)
    return _words_from_bits(neg)


def unpack_activations(words: torch.Tensor, channels: int,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Packed words (N, H, W, G, Wg) -> {-1, +1} values (N, channels, H, W)."""
    n, h, w, g, _ = words.shape
    if channels % g:
        raise ValueError(f'channels ({channels}) must be divisible by the groups ({g})')
    neg = _bits_from_words(words, channels // g)
    return (1 - 2 * neg.to(dtype)).reshape(n, h, w, channels).permute(0, 3, 1, 2).contiguous()


def pack_weights(signs: torch.Tensor) -> torch.Tensor:
    """Weight signs (C_out, C_in / groups, KH, KW) in {-1, +1} -> int64 words
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

