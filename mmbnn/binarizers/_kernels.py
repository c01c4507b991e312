"""The compiled kernels of the fused binary layers (``torch.ops.mmbnn.train_*``, built from
``mmbnn/ops/csrc/train_ops.cpp`` into ``mmbnn.ops._C``), when they are built.

Without them (the extension not built, ``MMBNN_TRAIN_KERNELS=0``, or inside
:func:`train_kernels_disabled`) every caller takes its PyTorch path, which gives the same floats
(the kernels are one pass where PyTorch takes several; see the C++ file's header).
"""
import contextlib
import os
from typing import Iterator, Optional

import torch

__all__ = ['train_kernels', 'train_kernels_disabled', 'kernel_ready', 'tracing']

_STATE = {'disabled': 0}


def _load():
    if os.environ.get('MMBNN_TRAIN_KERNELS', '1') == '0':
        return None
    try:
        import mmbnn.ops._C  # noqa: F401  (registers torch.ops.mmbnn.*)
    except ImportError:
        pass
    try:
        torch.ops.mmbnn.train_sign_encode  # noqa: B018  (raises if not registered)
    except (AttributeError, RuntimeError):
        return None
    return torch.ops.mmbnn


def train_kernels() -> Optional[object]:
    """``torch.ops.mmbnn`` if its ``train_*`` kernels are registered and enabled, else None."""
    if 'ops' not in _STATE:
        _STATE['ops'] = _load()
    return None if _STATE['disabled'] else _STATE['ops']


def tracing() -> bool:
    """Whether the model is being traced, scripted, compiled or exported (ONNX, torch.export):
    compiled kernels and fused autograd functions are opaque to those, the PyTorch path is plain
    ops."""
    return (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
            or torch.compiler.is_compiling())


def kernel_ready(*tensors: torch.Tensor) -> Optional[object]:
    """:func:`train_kernels` if every tensor is a float32 CPU tensor and nothing is being traced
    or exported (:func:`tracing`), else None."""
    ops = train_kernels()
    if ops is None or tracing():
        return None
    for t in tensors:
        if t.dtype != torch.float32 or t.device.type != 'cpu':
            return None
    return ops


@contextlib.contextmanager
def train_kernels_disabled() -> Iterator[None]:
    """Within this context the fused layers take their PyTorch path (for tests and
    comparisons)."""
    _STATE['disabled'] += 1
    try:
        yield
    finally:
        _STATE['disabled'] -= 1
