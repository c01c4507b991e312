"""mmbnn's converted Bi-Real Net-18 against Larq Compute Engine's, back to back (issue 22).

    python tools/analysis/bench_vs_lce.py [--setup] [--threads 1 2] [--rounds 3] [--repeats 20]
                                          [--json FILE]

LCE: larq-zoo's ``BiRealNet(weights=None)`` at 224x224 converted by
``larq_compute_engine.convert_keras_model`` and run by its interpreter with every x86 setting
(``use_indirect_bgemm`` on/off x ``use_xnnpack`` on/off, ``use_reference_bconv`` off), the best
one counting, in the separate LCE environment (``--setup`` creates ``.venv-lce``; it is never
mmbnn's own environment, nor CI's): ``tools/deploy/lce_side/time_birealnet.py``. The converted
flatbuffer is cached in ``work_dirs/lce/birealnet_lce.tflite``.

mmbnn: :func:`our_side` (``configs/baselines/birealnet-r18_8xb32_in1k.py``, random weights,
``mmbnn.deploy.convert`` with a 224x224 example input), timed with
:func:`mmbnn.analysis.timing.time_interleaved` at each thread count.

The two alternate in ``--rounds`` rounds (LCE, mmbnn, LCE, mmbnn...), so that a load that comes
and goes hits both; each side's figure is the median over rounds of its per-round median wall
time of one image (batch 1). The ratio is LCE's best / mmbnn's: above 1, mmbnn is faster. The
header prints the CPU and the load average: compare only figures from one run on a quiet machine.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LCE_SCRIPT = osp.join(ROOT, 'tools', 'deploy', 'lce_side', 'time_birealnet.py')
CONFIG = osp.join(ROOT, 'configs', 'baselines', 'birealnet-r18_8xb32_in1k.py')


def our_side(size: int = 224):
    """mmbnn's side: ``step()`` running one 224x224 image through the converted Bi-Real Net-18,
    and a description of it. The lead changes this function as the engine changes."""
    import torch

    from mmbnn.deploy import convert, example_forward
    from mmbnn.deploy.lce import load_model
    model = load_model(CONFIG)  # random weights: the speed does not depend on them
    x = torch.zeros(1, 3, size, size)
    converted = convert(model, example_inputs=x)
    run = example_forward(converted, x)

    def step():
        with torch.no_grad():
            run()

    return step, f'mmbnn.deploy.convert({osp.relpath(CONFIG, ROOT)})'


def time_ours(step, threads: int, repeats: int, warmup: int) -> float:
    """Median ms of ``step`` at ``threads`` torch threads."""
    import torch

    from mmbnn.analysis.timing import time_interleaved
    torch.set_num_threads(threads)
    return 1e3 * time_interleaved({'ours': step}, repeats, warmup)['ours'].median('wall')


def time_lce(threads, repeats: int, warmup: int, tflite: str) -> dict:
    from mmbnn.deploy.lce import run_json
    return run_json(LCE_SCRIPT, ['--threads', *map(str, threads), '--repeats', str(repeats),
                                 '--warmup', str(warmup), '--tflite', tflite])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setup', action='store_true', help='create the LCE environment if missing')
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--repeats', type=int, default=20, help='timed images per side and round')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--tflite', default=osp.join(ROOT, 'work_dirs', 'lce', 'birealnet_lce.tflite'))
    p.add_argument('--json', help='write the figures here')
    args = p.parse_args(argv)

    from mmbnn.deploy.lce.env import LceEnvMissing, setup_lce_env
    try:
        if args.setup:
            setup_lce_env()
        time_lce([1], 1, 0, args.tflite)  # converts and caches the flatbuffer (not timed)
    except LceEnvMissing as e:
        print(e, file=sys.stderr)
        return 1
    step, ours_name = our_side()
    load = os.getloadavg()
    lce_rounds, our_rounds, info = [], [], None
    for _ in range(args.rounds):
        info = time_lce(args.threads, args.repeats, args.warmup, args.tflite)
        lce_rounds.append(info)
        our_rounds.append({n: time_ours(step, n, args.repeats, args.warmup)
                           for n in args.threads})
    rows = []
    for n in args.threads:
        lce_best = statistics.median(r['best'][str(n)]['median_ms'] for r in lce_rounds)
        per_setting = {}
        for r in lce_rounds:
            for s in r['settings']:
                if s['threads'] == n:
                    key = (f"indirect_bgemm={s['use_indirect_bgemm']}, "
                           f"xnnpack={s['use_xnnpack']}")
                    per_setting.setdefault(key, []).append(s['median_ms'])
        ours = statistics.median(r[n] for r in our_rounds)
        rows.append(dict(threads=n, lce_best_ms=lce_best, ours_ms=ours, ratio=lce_best / ours,
                         lce_settings_ms={k: statistics.median(v)
                                          for k, v in per_setting.items()}))
    print(f'CPU: {info["cpu"]}; load average at start {load[0]:.2f} {load[1]:.2f} '
          f'{load[2]:.2f}; {args.rounds} rounds x {args.repeats} images')
    print(f'LCE {info["versions"]["larq_compute_engine"]}: {info["model"]} '
          f'({info["lce_bconv2d"]} LceBconv2d); mmbnn: {ours_name}')
    print('| threads | LCE best (ms) | mmbnn (ms) | LCE / mmbnn |')
    print('|---|---|---|---|')
    for r in rows:
        print(f"| {r['threads']} | {r['lce_best_ms']:.1f} | {r['ours_ms']:.1f} | "
              f"{r['ratio']:.2f}x |")
    for r in rows:
        print(f"  LCE settings at {r['threads']} thread(s): " + '; '.join(
            f'{k}: {v:.1f} ms' for k, v in r['lce_settings_ms'].items()))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(rows=rows, load=load, lce=lce_rounds[-1], ours=ours_name), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
