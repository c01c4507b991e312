"""mmbnn.analysis.timing: interleaved calls, medians on three clocks, the median of ratios."""
import statistics
import time

import pytest

from mmbnn.analysis.timing import (CLOCKS, Timings, device_synchronizer, median_ratio,
                                   time_interleaved)


def test_calls_alternate_and_warmup_is_not_timed():
    calls, syncs = [], []
    times = time_interleaved({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')},
                             repeats=3, warmup=1, sync=lambda: syncs.append(1))
    assert ''.join(calls) == 'ab' 'ba' 'ab' 'ba'  # AB, then BA, ...
    assert len(syncs) == 2 * len(calls)  # before and after every call
    for t in times.values():
        assert len(t) == 3 and all(len(getattr(t, c)) == 3 for c in CLOCKS)


def busy(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_cpu_clocks_count_work_not_waiting():
    times = time_interleaved({'sleep': lambda: time.sleep(0.02), 'busy': lambda: busy(0.02)},
                             repeats=3, warmup=0)
    sleep, work = times['sleep'], times['busy']
    assert sleep.median('wall') >= 0.02 and sleep.median('thread') < 0.01
    assert work.median('thread') >= 0.02 and work.median('process') >= 0.02
    assert work.to_dict()['calls'] == 3
    assert set(work.to_dict()) == {'calls', 'wall_s', 'process_s', 'thread_s'}


def test_median_ratio_is_the_median_of_the_rounds_ratios():
    a = Timings(wall=[1.0, 4.0, 9.0])
    b = Timings(wall=[1.0, 1.0, 3.0])
    assert median_ratio(a, b) == statistics.median([1.0, 4.0, 3.0]) == 3.0
    assert a.median() / b.median() == 4.0  # the ratio of the medians differs
    with pytest.raises(ValueError, match='same non-zero number'):
        median_ratio(a, Timings(wall=[1.0]))
    with pytest.raises(ValueError, match='clock must be one of'):
        a.median('cpu')


def test_refusals_and_cpu_sync():
    with pytest.raises(ValueError, match='nothing to time'):
        time_interleaved({}, repeats=1)
    with pytest.raises(ValueError, match='repeats >= 1'):
        time_interleaved({'a': lambda: None}, repeats=0)
    assert device_synchronizer('cpu')() is None


def test_op_shares():
    """op_shares splits one thread's time by operator kind: a step dominated by a large matmul
    gives the matmul kind most of it, the few adds a small share, operators of no kind go to
    'other', Python loops to 'Python overhead', and the shares sum to 1."""
    import torch

    from mmbnn.analysis.timing import op_shares
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(384, 384), torch.randn(384, 384)

        def step():
            c = a @ b
            for _ in range(3):
                c = c + 1.0
            torch.tanh(c[:4, :4])
            sum(i * i for i in range(20000))  # pure Python, no operator

        shares, seconds = op_shares(step, [('matmul', r'^aten::(mm|matmul)$'),
                                           ('add', r'^aten::add$')], runs=3, warmup=1)
    finally:
        torch.set_num_threads(threads)
    assert seconds > 0
    assert set(shares) >= {'matmul', 'add', 'other', 'Python overhead'}
    assert abs(sum(shares.values()) - 1.0) < 1e-6
    assert shares['matmul'] > shares['add'] > 0
    assert shares['other'] > 0  # tanh (and the slicing) match no kind
    assert shares['Python overhead'] > 0.05  # the generator loop is a visible part of the step
