"""Per-layer binary and real operations, parameters and memory of any PyTorch / OpenMMLab model.

Conventions (Bi-Real Net, Real-to-Binary, ReActNet; larq's ``larq.models.summary``):

- **MACs** are the multiply-accumulates of convolutions, linear layers and matrix products,
  counted by :class:`mmengine.analysis.FlopAnalyzer`'s handles (one "flop" per MAC, the fvcore
  convention): a convolution costs ``C_out H_out W_out (C_in / groups) k_h k_w`` per image, a
  linear layer ``C_in C_out`` per row. Normalisation, pooling, activations and element-wise
  additions are not MACs and are not counted (the papers' figures leave them out too).
- **BOPs** are the MACs of layers whose input AND weight are 1-bit (``input_bits == 1`` and
  ``weight_bits == 1``); **FLOPs** are all other MACs (k-bit ones included, listed apart in
  ``macs_by_precision``); **OPs** = BOPs / 64 + FLOPs.
- **Memory** counts the parameters at the bits they are stored with: a binary layer's ``weight``
  at its ``weight_bits``, every other parameter (biases, norm affine parameters, learned scales and
  thresholds of binarizers) at 32 bits. Buffers (BN running statistics) and scales that a weight
  binarizer computes from the weights (XNOR's mean |w|) are not parameters and are left out (larq
  leaves the computed scales out too, but counts BN statistics: see below). 1 kB = 1024 bytes
  (larq's convention).

Bit widths come from the modules' metadata: ``input_bits`` and ``weight_bits`` of mmbnn's binary
layers (32 on every other module).

Against larq-zoo's published figures: larq counts the Keras weights, so a BN layer's running mean
and variance too (2 values per channel since larq 0.10, all 4 BN vectors in larq-zoo's 2019
docstrings), and quotes sizes in MB = 2^20 bytes; :func:`mmbnn.analysis.larq_counts` gives a
summary's totals in those conventions (``tools/analysis/summary.py --larq [larq|keras]``).
"""
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import (addmm_flop_jit, bmm_flop_jit, conv_flop_jit,
                                           einsum_flop_jit, get_shape, linear_flop_jit,
                                           matmul_flop_jit)
from mmengine.model import BaseModel
from torch import nn

from mmbnn.binarizers.base import FULL_PRECISION_BITS, BaseBinarizer
from mmbnn.layers.multi_base_conv import explicit_bases
from .base_agreement import mean_base_agreement
from .sparse_cost import layer_sparsity

__all__ = ['LayerSummary', 'ModelSummary', 'summarize', 'MAC_OP_HANDLES', 'BITS_PER_KB',
           'BOPS_PER_OP']

#: Bits in one kB (1024 bytes, larq's convention).
BITS_PER_KB = 8 * 1024
#: One 64-bit word of XNOR-popcount does 64 binary MACs: OPs = BOPs / 64 + FLOPs.
BOPS_PER_OP = 64


def _baddbmm_macs(inputs, outputs):
    """``aten::baddbmm(self, batch1, batch2, ...)``: a bmm of ``batch1`` and ``batch2``."""
    n, m, k = get_shape(inputs[1])
    return n * m * k * get_shape(inputs[2])[-1]


def _sdpa_macs(inputs, outputs):
    """``aten::scaled_dot_product_attention(q, k, v, ...)``: ``Q K^T`` and ``softmax(.) V``."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


#: The ops whose count is MACs, with mmengine's handles (fvcore's: one "flop" per MAC) and two of
#: ours for ops that mmengine does not know. Every other op counts 0, including the binarizers'
#: autograd Functions (recorded by the tracer as ``prim::PythonOp``).
MAC_OP_HANDLES = {
    'aten::_convolution': conv_flop_jit,
    'aten::linear': linear_flop_jit,
    'aten::addmm': addmm_flop_jit,
    'aten::mm': matmul_flop_jit,
    'aten::matmul': matmul_flop_jit,
    'aten::bmm': bmm_flop_jit,
    'aten::einsum': einsum_flop_jit,
    'aten::baddbmm': _baddbmm_macs,
    'aten::scaled_dot_product_attention': _sdpa_macs,
}


def _precision(input_bits: int, weight_bits: int) -> str:
    return f'{input_bits}x{weight_bits}'


@dataclass
class LayerSummary:
    """One row: a module with parameters of its own or MACs of its own.

    Args:
        name (str): Module name in the model (``'backbone.layer1.0.conv1'``).
        type (str): Class name.
        input_bits (int): Bit width of the inputs its MACs take (32: full precision).
        weight_bits (int): Bit width of its weights (32: full precision).
        output_shape (list[int] | None): Shape of its output at the first call (None if it was
            not called or returns no tensor).
        params (dict[int, int]): Number of parameters stored with each bit width.
        macs (int): Multiply-accumulates, over all its calls, for a batch of one.
        calls (int): How many times the forward pass called it.
    """
    name: str
    type: str
    input_bits: int
    weight_bits: int
    output_shape: Optional[List[int]]
    params: Dict[int, int]
    macs: int
    calls: int = 1
    #: ``layer_sparsity(module)`` for a layer with a sparse weight binarizer (weights, active,
    #: active_fraction, sparse_bits, mac_fraction), else None.
    sparsity: Optional[Dict[str, float]] = None

    @property
    def binary(self) -> bool:
        """Whether its MACs are binary operations (1-bit inputs and 1-bit weights)."""
        return self.input_bits == 1 and self.weight_bits == 1

    @property
    def precision(self) -> str:
        """``'{input_bits}x{weight_bits}'``, the key of its MACs in ``macs_by_precision``."""
        return _precision(self.input_bits, self.weight_bits)

    @property
    def num_params(self) -> int:
        return sum(self.params.values())

    @property
    def memory_bits(self) -> int:
        return sum(bits * n for bits, n in self.params.items())

    @property
    def memory_kb(self) -> float:
        return self.memory_bits / BITS_PER_KB

    @property
    def bops(self) -> int:
        return self.macs if self.binary else 0

    @property
    def flops(self) -> int:
        return 0 if self.binary else self.macs

    @property
    def active_fraction(self) -> Optional[float]:
        return None if self.sparsity is None else self.sparsity['active_fraction']

    @property
    def sparse_memory_bits(self) -> float:
        """Memory with only the active connections of its weight stored."""
        s = self.sparsity
        if s is None:
            return self.memory_bits
        return self.memory_bits - self.weight_bits * s['weights'] + s['sparse_bits']

    @property
    def sparse_macs(self) -> float:
        """MACs with only the active connections computed."""
        return self.macs if self.sparsity is None else self.macs * self.sparsity['mac_fraction']

    @property
    def sparse_bops(self) -> float:
        return self.sparse_macs if self.binary else 0

    @property
    def sparse_flops(self) -> float:
        return 0 if self.binary else self.sparse_macs

    def to_dict(self) -> dict:
        return dict(
            name=self.name, type=self.type, input_bits=self.input_bits,
            weight_bits=self.weight_bits, output_shape=self.output_shape,
            params={str(b): n for b, n in sorted(self.params.items())},
            num_params=self.num_params, memory_kb=self.memory_kb, macs=self.macs,
            bops=self.bops, flops=self.flops, calls=self.calls, sparsity=self.sparsity,
            sparse_memory_kb=self.sparse_memory_bits / BITS_PER_KB,
            sparse_bops=self.sparse_bops, sparse_flops=self.sparse_flops)


@dataclass
class ModelSummary:
    """The rows of a model and their totals (computed from the rows, so they always agree).

    Args:
        model (str): Class name of the model.
        input_shape (list[int]): Shape of the input analysed, batch of one included.
        rows (list[LayerSummary]): One per module with parameters or MACs of its own, in the
            order of ``model.named_modules()``.
        base_agreement (float, optional): See below.
    """
    model: str
    input_shape: List[int]
    rows: List[LayerSummary] = field(default_factory=list)
    #: Mean sign agreement between the bases of K-base layers (None: no such layer), see
    #: :func:`mmbnn.analysis.base_agreement`.
    base_agreement: Optional[float] = None

    @property
    def params_by_bits(self) -> Dict[int, int]:
        counts = Counter()
        for row in self.rows:
            counts.update(row.params)
        return dict(sorted(counts.items()))

    @property
    def params(self) -> int:
        return sum(row.num_params for row in self.rows)

    @property
    def size_kb(self) -> float:
        """Model size with each parameter at its stored bit width."""
        return sum(row.memory_bits for row in self.rows) / BITS_PER_KB

    @property
    def fp32_size_kb(self) -> float:
        """Model size with every parameter a 32-bit float."""
        return self.params * FULL_PRECISION_BITS / BITS_PER_KB

    @property
    def compression_ratio(self) -> float:
        return self.fp32_size_kb / self.size_kb if self.size_kb else 1.0

    @property
    def macs_by_precision(self) -> Dict[str, int]:
        counts = Counter()
        for row in self.rows:
            if row.macs:
                counts[row.precision] += row.macs
        return dict(sorted(counts.items(), key=lambda kv: tuple(map(int, kv[0].split('x')))))

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def bops(self) -> int:
        return sum(row.bops for row in self.rows)

    @property
    def flops(self) -> int:
        return sum(row.flops for row in self.rows)

    @property
    def ops(self) -> float:
        """OPs = BOPs / 64 + FLOPs."""
        return self.bops / BOPS_PER_OP + self.flops

    @property
    def sparse_size_kb(self) -> float:
        """Model size with only the active connections of sparse layers stored."""
        return sum(row.sparse_memory_bits for row in self.rows) / BITS_PER_KB

    @property
    def sparse_bops(self) -> float:
        return sum(row.sparse_bops for row in self.rows)

    @property
    def sparse_flops(self) -> float:
        return sum(row.sparse_flops for row in self.rows)

    @property
    def sparse_ops(self) -> float:
        return self.sparse_bops / BOPS_PER_OP + self.sparse_flops

    @property
    def active_fraction(self) -> Optional[float]:
        """Active weights / weights over the sparse layers (None if there is none)."""
        sparse = [row.sparsity for row in self.rows if row.sparsity is not None]
        if not sparse:
            return None
        return sum(s['active'] for s in sparse) / sum(s['weights'] for s in sparse)

    @property
    def binary_mac_share(self) -> float:
        """Share of the MACs that are binary (BOPs / all MACs)."""
        return self.bops / self.macs if self.macs else 0.0

    def totals(self) -> dict:
        return dict(
            params=self.params,
            params_by_bits={str(b): n for b, n in self.params_by_bits.items()},
            size_kb=self.size_kb, fp32_size_kb=self.fp32_size_kb,
            compression_ratio=self.compression_ratio,
            macs=self.macs, macs_by_precision=self.macs_by_precision,
            bops=self.bops, flops=self.flops, ops=self.ops,
            binary_mac_share=self.binary_mac_share, active_fraction=self.active_fraction,
            sparse_size_kb=self.sparse_size_kb, sparse_bops=self.sparse_bops,
            sparse_flops=self.sparse_flops, sparse_ops=self.sparse_ops,
            base_agreement=self.base_agreement)

    def to_dict(self) -> dict:
        """JSON-ready: bit widths as string keys (``{'1': n1, '32': n32}``)."""
        return dict(model=self.model, input_shape=list(self.input_shape),
                    rows=[row.to_dict() for row in self.rows], totals=self.totals())


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor in a nest of tuples, lists and dicts, depth first."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors(x)


class _TensorForward(nn.Module):
    """Runs ``model`` on one input tensor and returns its output tensors as a flat tuple, which
    is what :func:`torch.jit.trace` (and so mmengine's analyzers) can take.

    An mmengine ``BaseModel`` runs in ``mode='tensor'`` (classifiers: backbone, neck and head;
    detectors and segmentors: their ``_forward``, without post-processing).
    """

    def __init__(self, model: nn.Module, data_samples=None):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if isinstance(self.model, BaseModel):
            out = self.model(inputs, self.data_samples, mode='tensor')
        else:
            out = self.model(inputs)
        return tuple(_tensors(out))


def _dummy_data_samples(model: nn.Module, shape: Sequence[int]):
    """Data samples with the image meta information that some ``mode='tensor'`` forwards read
    (two-stage detectors' RPN), for mmdet models; None for every other model."""
    if not type(model).__module__.startswith('mmdet.'):
        return None
    from mmdet.structures import DetDataSample
    h, w = shape[-2:]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1.0, 1.0))
    return [DetDataSample(metainfo=meta) for _ in range(shape[0])]


def _is_layer(module: nn.Module) -> bool:
    """Whether ``module`` declares the bit widths it computes with (mmbnn's binary layers)."""
    return hasattr(module, 'input_bits') and hasattr(module, 'weight_bits')


def _row_params(module: nn.Module, folded: List[nn.Module], seen: set) -> Dict[int, int]:
    """Parameters by bit width: the module's own, plus those of its folded binarizers."""
    weight_bits = getattr(module, 'weight_bits', FULL_PRECISION_BITS)
    counts = Counter()
    for owner in [module] + folded:
        for pname, p in owner.named_parameters(recurse=False):
            if id(p) in seen:  # tied parameters are counted once
                continue
            seen.add(id(p))
            bits = weight_bits if owner is module and pname == 'weight' else FULL_PRECISION_BITS
            counts[int(bits)] += p.numel()
    return dict(counts)


def summarize(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224),
              inputs: Optional[torch.Tensor] = None, data_samples=None) -> ModelSummary:
    """Count the binary and real MACs, parameters and memory of every layer of ``model``.

    The model runs once, traced by :class:`mmengine.analysis.FlopAnalyzer` (``torch.jit``
    trace) in eval mode on a random input of one image, with only MAC-counting op handles
    (:data:`MAC_OP_HANDLES`); the analyzer's ``by_module_and_operator`` attributes each op to the
    innermost module whose ``__call__`` ran it, so a binary conv's MACs are its own and the ops
    of its binarizers (autograd Functions, recorded as ``prim::PythonOp``) count 0.

    A module is a row if it has parameters of its own or MACs of its own (ops run by itself, not
    by a submodule). Binarizers are folded into the binary layer that owns them (their learned
    scales and thresholds count as its 32-bit parameters).

    Args:
        model (nn.Module): Any module; an mmengine ``BaseModel`` (mmpretrain classifier, mmdet
            detector, mmseg segmentor) runs in ``mode='tensor'``; other modules run as
            ``model(inputs)``. Its training mode is restored afterwards.
        input_shape (sequence[int]): ``(H, W)`` (3 channels), ``(C, H, W)`` or
            ``(N, C, H, W)``. Counts are reported per image whatever N. Default: (3, 224, 224).
        inputs (Tensor, optional): The input to run instead of a random one of ``input_shape``.
        data_samples (optional): Passed to a ``BaseModel``'s forward; by default None, or for
            mmdet models samples carrying the image meta information (for two-stage detectors).

    Returns:
        ModelSummary: rows and totals.
    """
    if inputs is None:
        shape = [int(s) for s in input_shape]
        if len(shape) == 2:
            shape = [3] + shape
        if len(shape) == 3:
            shape = [1] + shape
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(f'input_shape must be (H, W), (C, H, W) or (N, C, H, W) with '
                             f'positive sizes, got {tuple(input_shape)}')
        param = next(model.parameters(), None)
        inputs = torch.randn(shape, device=param.device if param is not None else None)
    batch = inputs.shape[0]
    if data_samples is None and isinstance(model, BaseModel):
        data_samples = _dummy_data_samples(model, inputs.shape)

    # Output shapes and call counts: FlopAnalyzer reports counts only, not shapes, so forward
    # hooks record them, in the same (traced) forward pass.
    seen_calls: Dict[nn.Module, List] = {}

    def record(module, args, output):
        entry = seen_calls.setdefault(module, [None, 0])
        if entry[1] == 0:
            first = next(_tensors(output), None)
            entry[0] = None if first is None else [int(n) for n in first.shape]
        entry[1] += 1

    was_training = model.training
    wrapper = _TensorForward(model, data_samples)
    analyzer = FlopAnalyzer(wrapper, (inputs, )).clear_op_handles()
    analyzer.set_op_handle(**MAC_OP_HANDLES)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    handles = [m.register_forward_hook(record) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), explicit_bases():
            counts = analyzer.by_module_and_operator()
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    macs = {name: sum(c.values()) for name, c in counts.items()}

    # Canonical names (a module reachable under two names keeps its first, as in the analyzer).
    names = {module: name for name, module in model.named_modules()}

    def key(module):  # the analyzer's name of ``module`` (the wrapper holds the model)
        return 'model' + ('.' + names[module] if names[module] else '')

    def own_macs(module) -> int:
        """MACs of ops that ``module`` ran itself: its count minus its children's."""
        total = macs.get(key(module), 0)
        prefix = names[module] + '.' if names[module] else ''
        for child_name, child in module.named_children():
            if names.get(child) == prefix + child_name:  # not a shared module owned elsewhere
                total -= macs.get(key(child), 0)
        return int(total)

    def binarizers(module) -> List[nn.Module]:  # those folded into a binary layer's row
        if not _is_layer(module):
            return []
        return [m for m in module.children() if isinstance(m, BaseBinarizer)]

    folded_away = {id(b) for m in model.modules() for b in binarizers(m)}
    rows, seen_params = [], set()
    for name, module in model.named_modules():
        if id(module) in folded_away:
            continue
        folded = binarizers(module)
        # MACs run inside a folded binarizer (none for mmbnn's) count as the layer's own.
        n_macs = own_macs(module) + sum(macs.get(key(m), 0) for m in folded)
        params = _row_params(module, folded, seen_params)
        if not params and not n_macs and not _is_layer(module):
            continue
        shape, calls = seen_calls.get(module, [None, 0])
        rows.append(LayerSummary(
            name=name or type(module).__name__, type=type(module).__name__,
            input_bits=int(getattr(module, 'input_bits', FULL_PRECISION_BITS)),
            weight_bits=int(getattr(module, 'weight_bits', FULL_PRECISION_BITS)),
            output_shape=shape, params=params, macs=n_macs // batch, calls=calls,
            sparsity=layer_sparsity(module)))

    summary = ModelSummary(model=type(model).__name__, input_shape=list(inputs.shape), rows=rows,
                           base_agreement=mean_base_agreement(model))
    total_macs = int(macs.get('model', 0)) // batch
    if summary.macs != total_macs:  # every MAC belongs to exactly one row
        raise RuntimeError(f'MACs of the rows ({summary.macs}) differ from the model total '
                           f'({total_macs}): shared submodules the analyzer could not attribute?')
    return summary

