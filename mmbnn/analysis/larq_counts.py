"""Parameters, model size and MACs in larq's conventions, to compare with larq-zoo's figures.

:func:`~mmbnn.analysis.summarize` counts what a PyTorch model stores as parameters; larq counts
what a Keras model stores as weights. The two differ in three ways, and only there:

1. **Batch normalisation.** Keras holds a BN layer's running mean and variance as (non-trainable)
   weights, PyTorch as buffers, which our summary leaves out. larq counts them, in one of two
   conventions (``convention`` below):

   - ``'larq'`` -- ``larq.models.summary`` since larq 0.10 (PR #454, March 2020): gamma and beta
     are folded with the moving statistics, so a BN layer counts exactly **2 values per
     channel**, whatever its ``scale``/``center`` flags (BN's inference form ``a x + b``).
     larq-zoo's figures for the models added after that (QuickNet and its variants) use it.
   - ``'keras'`` -- Keras' ``count_params`` and larq before 0.10: **every** BN variable, gamma
     and beta (where the layer has them) and the moving mean and variance, so 4 per channel
     for a full BN, 3 for ``scale=False``. larq-zoo's literature models (Bi-Real Net,
     BinaryResNetE18, BinaryAlexNet, BinaryDenseNet, XNOR-Net, DoReFa-Net, ...) were published
     with it (their docstrings date from 2019).

   ``'pytorch'`` applies neither and gives our summary's own counts (affine parameters only).

2. **Size unit.** larq-zoo quotes sizes in MB = 2^20 bytes (MiB); the summary prints kB = 1024
   bytes. 1-bit weights count 1 bit, everything else 32 bits, in both.

3. **MAC precision.** larq files a layer's MACs under ``max(input bits, weight bits)``; the
   summary's BOPs are the MACs whose input AND weight are 1-bit, which is the same set. Only
   convolution and dense layers count MACs in larq (depthwise convs included), as in the
   summary, which also counts matrix products that larq has no layer for.

Everything else agrees: frozen weights (``requires_grad=False``, Keras' ``trainable=False``)
count in both, learned binarizer thresholds, PReLU slopes and shifts are 32-bit parameters, and
scales computed from the weights (XNOR's mean |w|) are not parameters in either.
"""
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbnn.binarizers.base import FULL_PRECISION_BITS
from .summary import ModelSummary, summarize

__all__ = ['LarqCounts', 'larq_counts', 'LARQ_CONVENTIONS', 'BITS_PER_MB']

#: Bits in one MB as larq-zoo quotes model sizes (2^20 bytes).
BITS_PER_MB = 8 * 2**20
#: The BN conventions :func:`larq_counts` knows (see the module docstring).
LARQ_CONVENTIONS = ('larq', 'keras', 'pytorch')


@dataclass
class LarqCounts:
    """Totals of one model in one of larq's conventions.

    Args:
        convention (str): One of :data:`LARQ_CONVENTIONS`.
        params_by_bits (dict[int, int]): Parameters (weights in Keras' sense) by bit width.
        macs_by_precision (dict[int, int]): MACs per image by larq precision,
            ``max(input bits, weight bits)``.
        bn_values (int): Values that the BN layers contribute in this convention.
    """
    convention: str
    params_by_bits: Dict[int, int]
    macs_by_precision: Dict[int, int]
    bn_values: int

    @property
    def params(self) -> int:
        return sum(self.params_by_bits.values())

    @property
    def memory_bits(self) -> int:
        return sum(bits * n for bits, n in self.params_by_bits.items())

    @property
    def size_mb(self) -> float:
        """Model size in MB = 2^20 bytes, each parameter at its bit width."""
        return self.memory_bits / BITS_PER_MB

    @property
    def macs(self) -> int:
        return sum(self.macs_by_precision.values())

    @property
    def binary_mac_share(self) -> float:
        """larq's "Ratio of MACs that are binarized"."""
        return self.macs_by_precision.get(1, 0) / self.macs if self.macs else 0.0

    def to_dict(self) -> dict:
        return dict(convention=self.convention, params=self.params,
                    params_by_bits={str(b): n for b, n in sorted(self.params_by_bits.items())},
                    size_mb=self.size_mb, macs=self.macs,
                    macs_by_precision={str(b): n for b, n in
                                       sorted(self.macs_by_precision.items())},
                    binary_mac_share=self.binary_mac_share, bn_values=self.bn_values)


def _bn_values(bn: _BatchNorm, convention: str) -> int:
    """The values larq counts for ``bn`` in ``convention`` (32-bit each)."""
    stats = 0 if bn.running_mean is None else bn.running_mean.numel() + bn.running_var.numel()
    affine = sum(p.numel() for p in (bn.weight, bn.bias) if p is not None)
    if convention == 'keras':
        return affine + stats
    return stats if stats else affine  # 'larq': gamma and beta fold into the two statistics


def larq_counts(model: nn.Module, summary: Optional[ModelSummary] = None,
                input_shape: Sequence[int] = (3, 224, 224),
                convention: str = 'larq') -> LarqCounts:
    """Count ``model``'s parameters, size and MACs as larq does (see the module docstring).

    Args:
        model (nn.Module): The model (as for :func:`~mmbnn.analysis.summarize`).
        summary (ModelSummary, optional): ``summarize(model, input_shape)`` if already computed
            (its per-layer rows are reused; it must be of this very model). Default: computed.
        input_shape (sequence[int]): Input size for the MACs, as for ``summarize``.
            Default: (3, 224, 224).
        convention (str): ``'larq'`` (larq >= 0.10: 2 values per BN channel), ``'keras'``
            (every BN variable, as larq-zoo's 2019 docstrings) or ``'pytorch'`` (the summary's
            own counts). Default: ``'larq'``.

    Returns:
        LarqCounts: parameters by bit width, size in MB (2^20 bytes) and MACs by precision.
    """
    if convention not in LARQ_CONVENTIONS:
        raise ValueError(f'convention must be one of {LARQ_CONVENTIONS}, got {convention!r}')
    if summary is None:
        summary = summarize(model, input_shape)
    params = Counter(summary.params_by_bits)
    macs = Counter()
    for row in summary.rows:
        if row.macs:
            macs[max(row.input_bits, row.weight_bits)] += row.macs
    bn_values = 0
    if convention != 'pytorch':
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                # the summary counted the BN's affine parameters (32-bit); larq counts these
                params[FULL_PRECISION_BITS] -= sum(
                    p.numel() for p in (m.weight, m.bias) if p is not None)
                n = _bn_values(m, convention)
                params[FULL_PRECISION_BITS] += n
                bn_values += n
    return LarqCounts(convention=convention,
                      params_by_bits={b: n for b, n in sorted(params.items()) if n},
                      macs_by_precision=dict(sorted(macs.items())), bn_values=bn_values)
