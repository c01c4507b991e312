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

:func:`op_shares` says where one thread's time goes, per kind of operator, with the Python
overhead (the thread's time in no operator).

Used by ``tools/analysis/bench_binarizers.py``, ``bench_groupnet.py`` and ``bench_inference.py``.
"""
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ['Timings', 'time_interleaved', 'median_ratio', 'device_synchronizer', 'op_shares',
           'CLOCKS']

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


def op_shares(fn: Callable[[], object], kinds: Sequence[Tuple[str, str]], runs: int = 3,
              warmup: int = 2) -> Tuple[Dict[str, float], float]:
    """Where one thread's time goes while ``fn()`` runs: the torch profiler's self time of every
    operator, summed per kind, as shares of the calls' wall time (the profiler's operator times
    are wall times too, so both count a load alike), plus ``'Python overhead'``, the time in no
    operator. Call it with one torch thread, on a quiet machine.

    Args:
        fn (callable): What to profile (a forward pass, a training step).
        kinds (sequence of (name, regex)): Operator kinds; an operator (its profiler key, e.g.
            ``aten::add``, ``mmbnn::binary_conv2d``) goes to the first kind whose regex it
            matches (``re.search``), and to ``'other'`` if none does.
        runs (int): Profiled calls. warmup (int): Calls before them.

    Returns:
        tuple[dict, float]: Kind -> share (they sum to 1), and the wall seconds per call.
    """
    from torch.profiler import ProfilerActivity, profile
    for _ in range(warmup):
        fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        seconds = time.perf_counter() - start
    shares: Dict[str, float] = {}
    for evt in prof.key_averages():
        kind = next((name for name, pattern in kinds if re.search(pattern, evt.key)), 'other')
        shares[kind] = shares.get(kind, 0.0) + evt.self_cpu_time_total
    total_us = max(seconds * 1e6, sum(shares.values()))
    shares['Python overhead'] = total_us - sum(shares.values())
    return {k: v / total_us for k, v in shares.items()}, seconds / runs
