"""Bit-packed 1-bit inference against torch float32, measured side by side in one run.

    python tools/analysis/bench_inference.py [--threads 1 all] [--repeats N] [--timer wall|cpu]
                                             [--skip-layers] [--skip-models] [--sparse]
                                             [--json FILE]

1. Per layer: 3x3 convs at ResNet-18's shapes (64 ch at 56x56, 128 at 28, 256 at 14, 512 at 7;
   batch 1, stride 1, padding 1): mmbnn's kernel (packing the float input included) against
   torch's float32 ``F.conv2d`` (oneDNN), with the kernel's binary MACs per second.
2. End to end at 224x224, batch 1: torchvision's float ResNet-18, and Bi-Real Net-18
   (``configs/baselines/birealnet-r18_8xb32_in1k.py``) and Group-Net ResNet-18 with K=5
   (``configs/groupnet/groupnet-r18-5b_8xb32_in1k.py``), each simulated (float sign + conv) and
   converted (:func:`mmbnn.deploy.convert`); latency, and the resident weight memory of the
   converted model (its parameters and buffers) against its packed checkpoint
   (``tools/deploy/pack.py``: bits + scales + full-precision tensors).
3. Sparse (``--sparse``, issue 19): the sparse binary conv (:func:`mmbnn.ops.sparse_binary_conv2d`,
   0/1 weight masks, ``conv(x, m)`` and the window sum) against the dense binary conv at the same
   ResNet-18 shapes, zero padding, at EC 0.25 / 0.1 / 0.05 (the fraction of active weights), with
   two mask patterns: ``random`` (each weight active with probability EC, as training leaves
   them) and ``blocks`` (whole (tap, 64-input-channel word) blocks active with probability EC,
   the structure the kernel skips). Each output is checked against ``F.conv2d`` of the signs.

Each figure is the median wall time of ``--repeats`` runs after a warm-up, for each thread count
in turn (``all`` = every core): the latency. On a machine loaded by other jobs, ``--timer cpu
--threads 1`` gives the least CPU time of the thread instead (steadier there; one thread only,
as it does not see other threads' work).
Weights are random (speed does not depend on them). The header prints the load average: publish
only figures from a quiet machine.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import time

import torch
import torch.nn.functional as F

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]
MODELS = [('Bi-Real Net-18', 'configs/baselines/birealnet-r18_8xb32_in1k.py'),
          ('Group-Net R18 K=5', 'configs/groupnet/groupnet-r18-5b_8xb32_in1k.py')]


def timeit(fn, repeats: int, timer: str) -> float:
    """Seconds of ``fn()`` after one warm-up run: the median wall time of ``repeats`` runs, or
    (``timer='cpu'``, one thread) their least CPU time of the calling thread, the best estimate
    of the uncontended time on a machine that other jobs load."""
    clock = time.perf_counter if timer == 'wall' else time.thread_time
    with torch.no_grad():
        fn()
        times = []
        for _ in range(repeats):
            t = clock()
            fn()
            times.append(clock() - t)
    return statistics.median(times) if timer == 'wall' else min(times)


def bench_layers(repeats, timer):
    from mmbnn.ops import binary_conv2d, pack_activations, pack_weights
    rows = []
    for c, hw in LAYERS:
        g = torch.Generator().manual_seed(c)
        x = torch.randn(1, c, hw, hw, generator=g)
        w = torch.randn(c, c, 3, 3, generator=g)
        words = pack_weights(torch.where(w >= 0, 1.0, -1.0))
        scale = w.abs().mean((1, 2, 3))
        t_fp = timeit(lambda: F.conv2d(x, w, None, 1, 1), repeats, timer)
        t_bin = timeit(lambda: binary_conv2d(pack_activations(x), words, c, 3, 1, 1,
                                             pad_value=1.0, scale=scale), repeats, timer)
        macs = c * c * 9 * hw * hw
        rows.append(dict(layer=f'3x3 {c}ch @{hw}x{hw}', macs=macs, fp32_ms=1e3 * t_fp,
                         binary_ms=1e3 * t_bin, speedup=t_fp / t_bin,
                         fp32_gmacs=macs / t_fp / 1e9, binary_gmacs=macs / t_bin / 1e9))
    return rows


SPARSE_ECS = (0.25, 0.1, 0.05)


def sparse_mask(c: int, ec: float, pattern: str, g: torch.Generator) -> torch.Tensor:
    """A (c, c, 3, 3) 0/1 mask with a fraction ``ec`` of active weights: independently per
    weight (``random``) or per (output channel, tap, 64-input-channel word) block (``blocks``)."""
    if pattern == 'random':
        return (torch.rand(c, c, 3, 3, generator=g) < ec).float()
    words = -(-c // 64)
    blocks = (torch.rand(c, words, 1, 3, 3, generator=g) < ec).float()
    return blocks.expand(c, words, 64, 3, 3).reshape(c, words * 64, 3, 3)[:, :c].contiguous()


def bench_sparse(repeats, timer):
    from mmbnn.ops import (binary_conv2d, pack_activations, pack_masks, pack_weights,
                           sparse_binary_conv2d)
    rows = []
    for c, hw in LAYERS:
        g = torch.Generator().manual_seed(c)
        x = torch.randn(1, c, hw, hw, generator=g)
        dense = pack_weights(torch.where(torch.randn(c, c, 3, 3, generator=g) >= 0, 1.0, -1.0))
        t_dense = timeit(lambda: binary_conv2d(pack_activations(x), dense, c, 3, 1, 1,
                                               pad_value=0.0), repeats, timer)
        signs = torch.where(x >= 0, 1.0, -1.0).double()
        for pattern in ('random', 'blocks'):
            for ec in SPARSE_ECS:
                mask = sparse_mask(c, ec, pattern, g)
                masks = pack_masks(mask)
                conv, _ = sparse_binary_conv2d(pack_activations(x), masks, c, 3, 1, 1)
                exact = torch.equal(conv.double(),
                                    F.conv2d(signs, mask.double(), None, 1, 1))
                t_sparse = timeit(lambda: sparse_binary_conv2d(pack_activations(x), masks, c,
                                                               3, 1, 1), repeats, timer)
                rows.append(dict(layer=f'3x3 {c}ch @{hw}x{hw}', pattern=pattern, ec=ec,
                                 active=float(mask.mean()), dense_ms=1e3 * t_dense,
                                 sparse_ms=1e3 * t_sparse, speedup=t_dense / t_sparse,
                                 exact=exact))
    return rows


def tensor_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's parameters and buffers (each storage once)."""
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
    return total


def build_classifier(config: str):
    from mmengine.config import Config
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return ROOT_MODELS.build(cfg.model).eval()


def bench_models(repeats, timer, x):
    import torchvision
    from mmbnn.deploy import convert, pack_model, packed_sizes
    rows = []
    fp = torchvision.models.resnet18().eval()
    t_fp = timeit(lambda: fp(x), repeats, timer)
    rows.append(dict(model='ResNet-18 float32 (torchvision)', variant='float', ms=1e3 * t_fp,
                     vs_fp=1.0, weights_mb=tensor_bytes(fp) / 2**20))
    for name, config in MODELS:
        model = build_classifier(config)
        t_sim = timeit(lambda: model(x, mode='tensor'), max(1, repeats // 3), timer)
        converted = convert(model, example_inputs=x)
        t_conv = timeit(lambda: converted(x, mode='tensor'), repeats, timer)
        sizes = packed_sizes(pack_model(model))
        packed = sizes['bits_bytes'] + sizes['scale_bytes'] + sizes['fp_bytes']
        resident = tensor_bytes(converted)
        rows.append(dict(model=name, variant='simulated', ms=1e3 * t_sim, vs_fp=t_fp / t_sim,
                         weights_mb=tensor_bytes(model) / 2**20))
        rows.append(dict(model=name, variant='converted', ms=1e3 * t_conv, vs_fp=t_fp / t_conv,
                         weights_mb=resident / 2**20, packed_mb=packed / 2**20,
                         resident_vs_packed=resident / packed))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', nargs='+', default=['1', 'all'],
                        help="thread counts to run, ints or 'all' (default: 1 all)")
    parser.add_argument('--repeats', type=int, default=10, help='runs per figure')
    parser.add_argument('--timer', choices=['wall', 'cpu'], default='wall',
                        help='wall: median latency (default); cpu: least CPU time of the '
                        'thread (one thread only; for a loaded machine)')
    parser.add_argument('--skip-layers', action='store_true')
    parser.add_argument('--skip-models', action='store_true')
    parser.add_argument('--sparse', action='store_true',
                        help='also the sparse binary conv against the dense one (issue 19)')
    parser.add_argument('--json', help='also write the figures to this JSON file')
    args = parser.parse_args(argv)

    import mmbnn  # noqa: F401
    from mmbnn.ops import available_isas, kernel_isa
    from mmbnn.ops.bitpack import ISAS
    cores = os.cpu_count()
    isa = {v: k for k, v in ISAS.items()}[kernel_isa()]
    if isa == 'auto':
        isa = available_isas()[-1]
    load = os.getloadavg()
    print(f'torch {torch.__version__}, {cores} cores, kernels: {isa}, timer: {args.timer}, '
          f'load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}'
          + ('  (LOADED MACHINE: do not publish these figures)' if load[0] > 0.5 * cores
             else ''))
    results = dict(isa=isa, timer=args.timer, load=load, cores=cores, runs=[])
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    for threads in args.threads:
        n = cores if threads == 'all' else int(threads)
        if args.timer == 'cpu' and n > 1:
            print(f'\n== {n} threads: skipped, --timer cpu measures one thread ==')
            continue
        torch.set_num_threads(n)
        run = dict(threads=n)
        print(f'\n== {n} thread{"s" if n > 1 else ""} ==')
        if not args.skip_layers:
            run['layers'] = bench_layers(args.repeats, args.timer)
            print(f'{"layer":<20}{"fp32 ms":>9}{"1-bit ms":>10}{"speed-up":>10}'
                  f'{"fp32 GMAC/s":>13}{"1-bit GMAC/s":>14}')
            for r in run['layers']:
                print(f'{r["layer"]:<20}{r["fp32_ms"]:>9.3f}{r["binary_ms"]:>10.3f}'
                      f'{r["speedup"]:>9.1f}x{r["fp32_gmacs"]:>13.1f}{r["binary_gmacs"]:>14.1f}')
        if not args.skip_models:
            run['models'] = bench_models(args.repeats, args.timer, x)
            print(f'\n{"model (224x224, batch 1)":<34}{"":<11}{"ms":>8}{"vs float":>10}'
                  f'{"weights MB":>12}{"packed MB":>11}{"resident/packed":>17}')
            for r in run['models']:
                packed = f'{r["packed_mb"]:>11.2f}{r["resident_vs_packed"]:>16.3f}x' \
                    if 'packed_mb' in r else ''
                print(f'{r["model"]:<34}{r["variant"]:<11}{r["ms"]:>8.1f}{r["vs_fp"]:>9.2f}x'
                      f'{r["weights_mb"]:>12.2f}{packed}')
        if args.sparse:
            run['sparse'] = bench_sparse(args.repeats, args.timer)
            print(f'\n{"sparse layer (zero pad)":<20}{"mask":>8}{"EC":>6}{"active":>8}'
                  f'{"dense ms":>10}{"sparse ms":>11}{"speed-up":>10}{"exact":>7}')
            for r in run['sparse']:
                print(f'{r["layer"]:<20}{r["pattern"]:>8}{r["ec"]:>6.2f}{r["active"]:>8.3f}'
                      f'{r["dense_ms"]:>10.3f}{r["sparse_ms"]:>11.3f}{r["speedup"]:>9.2f}x'
                      f'{"yes" if r["exact"] else "NO":>7}')
        results['runs'].append(run)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
