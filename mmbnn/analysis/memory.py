"""Memory of a training step: the bytes autograd saves for backward, and the peak resident memory.

:class:`SavedTensorMeter` counts, during a forward, the storages autograd saves for backward
(:func:`torch.autograd.graph.saved_tensors_hooks`): each storage once however many ops or views
save it, and without the model's parameters and buffers, which are alive whatever backward needs
(a weight binarizer that saves the weight itself costs nothing). :func:`peak_rss` measures the
peak resident memory of the process while a function runs, above what was resident when it
started (Linux: ``/proc/self/status``'s ``VmHWM``, reset through ``/proc/self/clear_refs``).

Used by ``tools/analysis/bench_groupnet.py --memory``.
"""
import contextlib
from typing import Callable, Dict, Iterator, Optional, Set, Tuple

import torch
from torch import nn

__all__ = ['SavedTensorMeter', 'saved_bytes', 'peak_rss', 'resident_bytes']


class SavedTensorMeter:
    """Records the storages that autograd saves for backward within :meth:`record`.

    Args:
        model (nn.Module, optional): Its parameters' and buffers' storages are left out.
        tagger (callable, optional): ``() -> str``, called for every saved tensor; its answer
            tags the storage (e.g. the kind of module running), for :meth:`bytes` by tag.
    """

    def __init__(self, model: Optional[nn.Module] = None,
                 tagger: Optional[Callable[[], str]] = None):
        self.exclude = set() if model is None else {
            t.untyped_storage().data_ptr()
            for t in list(model.parameters()) + list(model.buffers())}
        self.tagger = tagger
        self.storages: Dict[int, Tuple[int, Set[str]]] = {}

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self.exclude:
            _, tags = self.storages.setdefault(ptr, (storage.nbytes(), set()))
            if self.tagger is not None:
                tags.add(self.tagger())
        return t

    @contextlib.contextmanager
    def record(self) -> Iterator['SavedTensorMeter']:
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
            yield self

    def bytes(self, tag: Optional[str] = None) -> int:
        """Bytes of the storages saved (by ops tagged ``tag``, if given)."""
        return sum(n for n, tags in self.storages.values() if tag is None or tag in tags)


def saved_bytes(model: nn.Module, forward: Callable[[], torch.Tensor]) -> int:
    """Bytes saved for backward by ``forward()`` (a scalar loss of ``model``), which is then
    back-propagated so that the graph is freed; the model's gradients are cleared."""
    meter = SavedTensorMeter(model)
    with meter.record():
        loss = forward()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return meter.bytes()


def _status(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def resident_bytes() -> Optional[int]:
    """The resident memory of this process now (Linux; None elsewhere)."""
    return _status('VmRSS')


def peak_rss(fn: Callable[[], object]) -> Optional[int]:
    """The peak resident memory while ``fn()`` runs, minus the resident memory before it (bytes;
    None where the peak cannot be reset). Memory that the allocator keeps after earlier work is reused
    without raising the peak, so measure each candidate in a fresh process."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current VmRSS
    except OSError:
        return None
    before = resident_bytes()
    fn()
    peak = _status('VmHWM')
    if peak is None or before is None:
        return None
    return max(peak - before, 0)

