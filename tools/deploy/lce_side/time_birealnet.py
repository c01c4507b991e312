"""Time larq-zoo's Bi-Real Net in Larq Compute Engine's interpreter, every x86 setting (LCE side).

Run with the LCE environment's python (``python tools/deploy/lce_env.py --setup`` creates it;
``tools/analysis/bench_vs_lce.py`` runs this script for you)::

    TF_USE_LEGACY_KERAS=1 .venv-lce/bin/python tools/deploy/lce_side/time_birealnet.py \
        [--threads 1 2] [--repeats 20] [--warmup 3] [--tflite work_dirs/lce/birealnet.tflite]

Builds ``larq_zoo.literature.BiRealNet(weights=None)`` at 224x224 (random weights: the timing
does not depend on them), converts it with ``larq_compute_engine.convert_keras_model`` (target
arm; the file is kept at ``--tflite`` and reused when it exists), and times
``larq_compute_engine.testing.Interpreter(flatbuffer, num_threads=N, use_indirect_bgemm=...,
use_xnnpack=...)`` (``use_reference_bconv`` off) for every combination and every N: each call
is one image, timed with ``time.perf_counter``, the settings interleaved call by call (in a
different order every round), the median of ``--repeats`` calls after ``--warmup``. The JSON
result (per setting: median/min ms; per thread count: the best setting) goes to the file named by
``$MMBNN_LCE_JSON``, else to stdout.
"""
import argparse
import importlib.util
import itertools
import os
import os.path as osp
import platform
import statistics
import sys
import time

import numpy as np

_BUILDER = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', '..', 'mmbnn', 'deploy',
                    'lce', 'keras_builder.py')


def _builder():
    """mmbnn's LCE-side helpers (count_ops, emit_json), loaded without importing mmbnn."""
    spec = importlib.util.spec_from_file_location('mmbnn_lce_keras_builder', _BUILDER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def birealnet_flatbuffer(kb, path: str, size: int) -> bytes:
    """The converted larq-zoo BiRealNet, from ``path`` or converted now and saved there."""
    if path and osp.exists(path):
        with open(path, 'rb') as f:
            return f.read()
    os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
    import larq_zoo as lqz
    model = lqz.literature.BiRealNet(input_shape=(size, size, 3), weights=None)
    # larq_compute_engine.convert_keras_model(model, target='arm'), autograph off
    flatbuffer = kb.convert(model, via='keras')
    if path:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(flatbuffer)
    return flatbuffer


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--repeats', type=int, default=20, help='timed calls per setting')
    p.add_argument('--warmup', type=int, default=3, help='untimed calls per setting first')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--tflite', default=None, help='cache of the converted model')
    args = p.parse_args(argv)
    kb = _builder()

    t0 = time.perf_counter()
    flatbuffer = birealnet_flatbuffer(kb, args.tflite, args.size)
    convert_s = time.perf_counter() - t0
    import larq_compute_engine as lce
    x = [np.random.default_rng(0).standard_normal((1, args.size, args.size, 3)).astype(
        np.float32)]
    settings = []
    for n, indirect, xnnpack in itertools.product(args.threads, (False, True), (False, True)):
        interp = lce.testing.Interpreter(flatbuffer, num_threads=n, use_indirect_bgemm=indirect,
                                         use_xnnpack=xnnpack)
        settings.append(dict(threads=n, use_indirect_bgemm=indirect, use_xnnpack=xnnpack,
                             interp=interp.interpreter, times=[]))
    for r in range(args.warmup + args.repeats):
        order = settings if r % 2 == 0 else settings[::-1]
        for s in order:
            t = time.perf_counter()
            s['interp'].predict(x)
            if r >= args.warmup:
                s['times'].append(time.perf_counter() - t)
    rows, best = [], {}
    for s in settings:
        row = {k: s[k] for k in ('threads', 'use_indirect_bgemm', 'use_xnnpack')}
        row.update(median_ms=1e3 * statistics.median(s['times']), min_ms=1e3 * min(s['times']),
                   runs=len(s['times']))
        rows.append(row)
        key = str(s['threads'])
        if key not in best or row['median_ms'] < best[key]['median_ms']:
            best[key] = row
    ops = kb.count_ops(flatbuffer)
    kb.emit_json(dict(
        model='larq_zoo.literature.BiRealNet(weights=None)', input=[1, args.size, args.size, 3],
        tflite_bytes=len(flatbuffer), lce_bconv2d=ops.get('LceBconv2d', 0), ops=ops,
        convert_s=convert_s, settings=rows, best=best, cpu=cpu_name(),
        versions=dict(larq_compute_engine=lce.__version__, python=platform.python_version()),
        note='use_reference_bconv=False throughout; median of per-call wall times'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
