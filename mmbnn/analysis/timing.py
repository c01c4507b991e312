"""Side-by-side timing for micro-benchmarks: interleaved repeats, medians, CPU and wall time.

On a machine shared with other jobs a benchmark that times A for a while and then B for a while
measures the load as much as A and B. :func:`time_interleaved` calls the candidates in
alternation (A B, then B A, ...), so that a load that comes and goes hits both alike, and
records for every call the wall time (``time.perf_counter``), the process CPU time
(``time.process_time``: all threads of the process) and the thread CPU time
(``time.thread_time``: the calling thread only; with one torch thread, the work itself). CPU
times hardly depend on other processes; wall time is what a user waits.
:meth:`Timings.median` and :func:`median_ratio` (the median of the per-round ratios, steadier
than the ratio of the medians under a changing load) summarise them.

Used by ``tools/analysis/bench_binarizers.py`` and ``tools/analysis/bench_groupnet.py``.
"""
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

__all__ = ['Timings', 'time_interleaved', 'median_ratio', 'device_synchronizer', 'CLOCKS']

#: The clocks recorded for every call.
CLOCKS = ('wall', 'process', 'thread')


@dataclass
class Timings:
    """Seconds of every timed call of one candidate, on each clock of :data:`CLOCKS`."""
    wall: List[float] = field(default_factory=list)
    process: List[float] = field(default_factory=list)
    thread: List[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.wall)

    def _clock(self, clock: str) -> List[float]:
        if clock not in CLOCKS:
            raise ValueError(f'clock must be one of {CLOCKS}, got {clock!r}')
        return getattr(self, clock)

    def median(self, clock: str = 'wall') -> float:
        """The median seconds per call on ``clock``."""
        return statistics.median(self._clock(clock))

    def to_dict(self) -> Dict[str, float]:
        """The medians on every clock and the number of calls."""
        return dict(calls=len(self), **{f'{c}_s': self.median(c) for c in CLOCKS})


def device_synchronizer(device=None) -> Callable[[], None]:
    """A function that waits for the device's queued work (CUDA), or does nothing (CPU)."""
    import torch
    device = torch.device(device if device is not None else 'cpu')
    if device.type == 'cuda':
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def time_interleaved(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                     sync: Optional[Callable[[], None]] = None) -> Dict[str, Timings]:
    """Call every function of ``fns`` ``warmup + repeats`` times in alternation, in the order
    of ``fns`` on even rounds and reversed on odd rounds; time the last ``repeats`` rounds.

    Args:
        fns (dict): Name -> function of no arguments (one step of the candidate).
        repeats (int): Timed rounds (calls per function), >= 1.
        warmup (int): Untimed rounds first, >= 0. Default: 1.
        sync (callable, optional): Called before and after every call, inside the timing
            (``device_synchronizer(device)`` for a GPU). Default: none.

    Returns:
        dict: Name -> :class:`Timings` with ``repeats`` entries per clock.

    Raises:
        ValueError: ``fns`` empty, ``repeats < 1`` or ``warmup < 0``.
    """
    if not fns:
        raise ValueError('nothing to time: fns is empty')
    if repeats < 1 or warmup < 0:
        raise ValueError(f'need repeats >= 1 and warmup >= 0, got repeats={repeats}, '
                         f'warmup={warmup}')
    sync = sync or (lambda: None)
    times = {name: Timings() for name in fns}
    order = list(fns)
    for i in range(warmup + repeats):
        for name in (order if i % 2 == 0 else order[::-1]):
            sync()
            wall, process, thread = time.perf_counter(), time.process_time(), time.thread_time()
            fns[name]()
            sync()
            if i >= warmup:
                t = times[name]
                t.wall.append(time.perf_counter() - wall)
                t.process.append(time.process_time() - process)
                t.thread.append(time.thread_time() - thread)
    return times


def median_ratio(a: Timings, b: Timings, clock: str = 'wall') -> float:
    """The median over rounds of ``a``'s time / ``b``'s time on ``clock`` (rounds paired in
    order; both must have the same number of calls)."""
    ta, tb = a._clock(clock), b._clock(clock)
    if len(ta) != len(tb) or not ta:
        raise ValueError(f'need the same non-zero number of calls, got {len(ta)} and {len(tb)}')
    return statistics.median(x / y if y > 0 else float('inf') for x, y in zip(ta, tb))
