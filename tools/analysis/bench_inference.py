"""Bit-packed 1-bit inference against torch float32, measured side by side in one run.

    python tools/analysis/bench_inference.py [--threads 1 2] [--repeats 20]
                                             [--models bireal groupnet5 ...] [--skip-layers]
                                             [--skip-models] [--profile] [--sparse]
                                             [--peak ../shared/limits/popcount_peak.c]
                                             [--json FILE]

1. Per layer: 3x3 convs at ResNet-18's four shapes (64 ch at 56x56, 128 at 28, 256 at 14, 512
   at 7; batch 1, stride 1): torch's float32 ``F.conv2d`` (oneDNN, the faster of NCHW and
   channels-last) against mmbnn's kernel (packing the float input included) with +1 padding
   (Group-Net's, free) and with zero padding (Bi-Real's, corrected exactly), and the kernel's
   binary MACs per second; with ``--peak`` the C file of ``../shared/limits`` is compiled and run
   first, and each figure is also given as a share of the core's measured xor-popcount peak.
2. Per model, 224x224, batch 1: torchvision's float ResNet-18 (the faster of NCHW and
   channels-last) against each converted model (:func:`mmbnn.deploy.convert`, the fused engine
   for the binary ResNets), timed in alternation (:func:`mmbnn.analysis.timing.time_interleaved`)
   so that a load that comes and goes hits both alike: median latency, and the median of the
   per-round ratios. The weights are random (untrained): speed does not depend on them. Also the
   resident weight memory of the converted model against its packed checkpoint.
3. ``--profile``: where each converted model's time goes at one thread (torch's profiler over
   the same runs): binary conv, packing, float conv, pooling, element-wise and layout ops, the
   classifier, and the Python overhead (wall time not spent in any operator).
4. ``--sparse``: the sparse binary conv (:func:`mmbnn.ops.sparse_binary_conv2d`) against the
   dense one at the same shapes (issue 19).

The header names the CPU, its SIMD features and the kernels' instruction set, and prints the load
average: publish only figures from a quiet machine (the script says when it is not).
"""
import argparse
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmbnn.analysis.timing import median_ratio, time_interleaved  # noqa: E402

LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]
#: name -> (label, config); ``--models`` picks from these
MODELS = {
    'bireal': ('Bi-Real Net-18', 'configs/baselines/birealnet-r18_8xb32_in1k.py'),
    'groupnet5': ('Group-Net R18 K=5', 'configs/groupnet/groupnet-r18-5b_8xb32_in1k.py'),
    'groupnet3': ('Group-Net R18 K=3', 'configs/groupnet/groupnet-r18-3b_8xb32_in1k.py'),
    'reactnet': ('ReActNet-style ResNet-18', 'configs/baselines/reactnet-r18_8xb32_in1k.py'),
    'xnor': ('XNOR-Net ResNet-18', 'configs/baselines/xnornet-r18_8xb32_in1k.py'),
    'bnn': ('BNN ResNet-18', 'configs/baselines/bnn-r18_8xb32_in1k.py'),
    'irnet': ('IR-Net ResNet-18', 'configs/baselines/irnet-r18_8xb32_in1k.py'),
    'reactnet-a': ('ReActNet-A', 'configs/reactnet_a/reactnet-a_8xb32_in1k.py'),
    'quicknet': ('QuickNet', 'configs/quicknet/quicknet_8xb256_in1k.py'),
}
DEFAULT_MODELS = ['bireal', 'groupnet5']
#: operator kinds of the profile, by regular expression over torch's operator names
KINDS = [
    ('binary conv', r'^mmbnn::(binary|sparse)_conv2d$'),
    ('packing', r'^mmbnn::(pack_activations|prepare_weights)$'),
    ('float conv', r'^aten::(mkldnn_convolution|_slow_conv2d\w*|thnn_conv\w*|_convolution|'
                   r'convolution|conv2d|_mkldnn\w*)$'),
    ('pooling', r'pool'),
    ('classifier', r'^aten::(addmm|linear|mm|matmul)$'),
    ('element-wise and layout', r'^aten::'),
]


def cpu_facts() -> dict:
    """The CPU's model name and the SIMD features the kernels care about."""
    model, flags = 'unknown CPU', set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and model == 'unknown CPU':
                    model = line.split(':', 1)[1].strip()
                elif line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
    except OSError:
        pass
    wanted = ['avx2', 'avx512f', 'avx512bw', 'avx512vpopcntdq']
    return dict(model=model, features=[f for f in wanted if f in flags])


def measure_peak(path: str) -> float:
    """G bit-MAC/s of the core's xor-popcount peak: compile and run ``path`` (the C file of
    ``../shared/limits``), the best ISA's best figure."""
    with tempfile.TemporaryDirectory() as tmp:
        exe = osp.join(tmp, 'peak')
        subprocess.run(['gcc', '-O2', '-o', exe, path], check=True, capture_output=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    avx512 = [float(v) for v in re.findall(r'VPOPCNTDQ: (\d+) G', out)]
    avx2 = [float(v) for v in re.findall(r'AVX2 \(pshufb\): (\d+) G', out)]
    return max(avx512 or avx2)


def best_layout(fn_nchw, fn_nhwc, repeats):
    """The faster of two layouts of the same float computation (a fair float baseline)."""
    t = time_interleaved({'nchw': fn_nchw, 'nhwc': fn_nhwc}, max(3, repeats // 3))
    return fn_nchw if t['nchw'].median() <= t['nhwc'].median() else fn_nhwc


def bench_layers(repeats, peak=None):
    from mmbnn.ops import binary_conv2d, pack_activations, pack_weights, prepare_weights
    rows = []
    for c, hw in LAYERS:
        g = torch.Generator().manual_seed(c)
        x = torch.randn(1, c, hw, hw, generator=g)
        xl = x.contiguous(memory_format=torch.channels_last)
        w = torch.randn(c, c, 3, 3, generator=g)
        wl = w.contiguous(memory_format=torch.channels_last)
        words = pack_weights(torch.where(w >= 0, 1.0, -1.0))
        prep = prepare_weights(words)
        scale = w.abs().mean((1, 2, 3))
        fp = best_layout(lambda: F.conv2d(x, w, None, 1, 1), lambda: F.conv2d(xl, wl, None, 1, 1),
                         repeats)

        def binary(pad_value):
            return lambda: binary_conv2d(pack_activations(xl), words, c, 3, 1, 1,
                                         pad_value=pad_value, scale=scale, prepared=prep)

        with torch.no_grad():
            t = time_interleaved({'fp32': fp, 'pad1': binary(1.0), 'pad0': binary(0.0)},
                                 repeats)
        macs = c * c * 9 * hw * hw
        row = dict(layer=f'3x3 {c}ch @{hw}x{hw}', macs=macs, fp32_ms=1e3 * t['fp32'].median())
        for pad in ('pad1', 'pad0'):
            ms = 1e3 * t[pad].median()
            row[f'{pad}_ms'] = ms
            row[f'{pad}_speedup'] = median_ratio(t['fp32'], t[pad])
            row[f'{pad}_gbitmacs'] = macs / ms / 1e6
            if peak:
                row[f'{pad}_of_peak'] = row[f'{pad}_gbitmacs'] / peak
        rows.append(row)
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


def bench_sparse(repeats):
    from mmbnn.ops import (binary_conv2d, pack_activations, pack_masks, pack_weights,
                           sparse_binary_conv2d)
    rows = []
    for c, hw in LAYERS:
        g = torch.Generator().manual_seed(c)
        x = torch.randn(1, c, hw, hw, generator=g)
        dense = pack_weights(torch.where(torch.randn(c, c, 3, 3, generator=g) >= 0, 1.0, -1.0))
        signs = torch.where(x >= 0, 1.0, -1.0).double()
        for pattern in ('random', 'blocks'):
            for ec in SPARSE_ECS:
                mask = sparse_mask(c, ec, pattern, g)
                masks = pack_masks(mask)
                conv, _ = sparse_binary_conv2d(pack_activations(x), masks, c, 3, 1, 1)
                exact = torch.equal(conv.double(), F.conv2d(signs, mask.double(), None, 1, 1))
                t = time_interleaved({
                    'dense': lambda: binary_conv2d(pack_activations(x), dense, c, 3, 1, 1,
                                                   pad_value=0.0),
                    'sparse': lambda: sparse_binary_conv2d(pack_activations(x), masks, c, 3, 1,
                                                           1)}, repeats)
                rows.append(dict(layer=f'3x3 {c}ch @{hw}x{hw}', pattern=pattern, ec=ec,
                                 active=float(mask.mean()), dense_ms=1e3 * t['dense'].median(),
                                 sparse_ms=1e3 * t['sparse'].median(),
                                 speedup=median_ratio(t['dense'], t['sparse']), exact=exact))
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
    model = cfg.model.get('student', cfg.model)  # a distiller's config: the deployed student
    return ROOT_MODELS.build(model).eval()


def converted_models(names, x):
    """``{name: (label, model, converted)}``, each converted with an example input."""
    from mmbnn.deploy import convert
    out = {}
    for name in names:
        label, config = MODELS[name]
        model = build_classifier(config)
        out[name] = (label, model, convert(model, example_inputs=x))
    return out


def bench_models(models, repeats, x):
    import torchvision
    from mmbnn.deploy import pack_model, packed_sizes
    fp = torchvision.models.resnet18().eval()
    fpl = torchvision.models.resnet18().eval().to(memory_format=torch.channels_last)
    fpl.load_state_dict(fp.state_dict())
    xl = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fp_fn = best_layout(lambda: fp(x), lambda: fpl(xl), repeats)
        fns = {'fp': fp_fn}
        for name, (_, _, conv) in models.items():
            fns[name] = (lambda c: lambda: c(x, mode='tensor'))(conv)
        t = time_interleaved(fns, repeats)
    rows = [dict(model='ResNet-18 float32 (torchvision)', name='fp', ms=1e3 * t['fp'].median(),
                 vs_fp=1.0, weights_mb=tensor_bytes(fp) / 2**20)]
    for name, (label, model, conv) in models.items():
        sizes = packed_sizes(pack_model(model))
        packed = sizes['bits_bytes'] + sizes['scale_bytes'] + sizes['fp_bytes']
        resident = tensor_bytes(conv)
        rows.append(dict(model=label, name=name, ms=1e3 * t[name].median(),
                         vs_fp=median_ratio(t['fp'], t[name]), weights_mb=resident / 2**20,
                         packed_mb=packed / 2**20, resident_vs_packed=resident / packed))
    return rows


def profile_model(conv, x, runs: int = 10):
    """Shares of one thread's time per operator kind (:data:`KINDS`) and the Python overhead
    (:func:`mmbnn.analysis.timing.op_shares`); call with one torch thread."""
    from mmbnn.analysis.timing import op_shares
    with torch.no_grad():
        return op_shares(lambda: conv(x, mode='tensor'), KINDS, runs)


def header(args):
    from mmbnn.ops import available_isas, kernel_isa
    from mmbnn.ops.bitpack import ISAS
    cores = os.cpu_count()
    code = kernel_isa()
    isa = {v: k for k, v in ISAS.items()}[code]
    if isa == 'auto':
        isa = [n for n in available_isas() if n != 'torch'][-1]
    cpu = cpu_facts()
    load = os.getloadavg()
    loaded = load[0] > 0.3 * cores
    print(f'CPU: {cpu["model"]} ({", ".join(cpu["features"]) or "no AVX2"}), {cores} cores; '
          f'kernels: {isa}; torch {torch.__version__}')
    print(f'load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}'
          + ('  (LOADED MACHINE: do not publish these figures)' if loaded else ''))
    return dict(cpu=cpu, isa=isa, load=load, cores=cores, loaded=loaded)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', nargs='+', default=['1', 'all'],
                        help="thread counts to run, ints or 'all' (default: 1 all)")
    parser.add_argument('--repeats', type=int, default=20, help='timed runs per figure')
    parser.add_argument('--models', nargs='+', default=DEFAULT_MODELS, choices=sorted(MODELS))
    parser.add_argument('--skip-layers', action='store_true')
    parser.add_argument('--skip-models', action='store_true')
    parser.add_argument('--profile', action='store_true',
                        help='where each converted model spends its time (one thread)')
    parser.add_argument('--sparse', action='store_true',
                        help='also the sparse binary conv against the dense one (issue 19)')
    parser.add_argument('--peak', help='the popcount peak C file (../shared/limits/'
                        'popcount_peak.c) to compile and run first')
    parser.add_argument('--json', help='also write the figures to this JSON file')
    args = parser.parse_args(argv)

    import mmbnn  # noqa: F401
    results = header(args)
    results['runs'] = []
    if args.peak:
        results['peak_gbitmacs'] = measure_peak(args.peak)
        print(f'xor-popcount peak of one core: {results["peak_gbitmacs"]:.0f} G bit-MAC/s')
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    models = {} if args.skip_models and not args.profile else converted_models(args.models, x)
    if models:
        print('models: untrained (random weights; speed does not depend on them)')
    for threads in args.threads:
        n = results['cores'] if threads == 'all' else int(threads)
        torch.set_num_threads(n)
        run = dict(threads=n)
        print(f'\n== {n} thread{"s" if n > 1 else ""} ==')
        if not args.skip_layers:
            run['layers'] = bench_layers(args.repeats, results.get('peak_gbitmacs'))
            share = 'peak' in results and results.get('peak_gbitmacs')
            print(f'{"layer":<20}{"fp32 ms":>9}{"+1 pad ms":>10}{"x fp32":>8}{"G bit-MAC/s":>13}'
                  + (f'{"of peak":>9}' if share else '') +
                  f'{"0 pad ms":>10}{"x fp32":>8}')
            for r in run['layers']:
                print(f'{r["layer"]:<20}{r["fp32_ms"]:>9.3f}{r["pad1_ms"]:>10.3f}'
                      f'{r["pad1_speedup"]:>7.1f}x{r["pad1_gbitmacs"]:>13.1f}'
                      + (f'{100 * r["pad1_of_peak"]:>8.0f}%' if share else '') +
                      f'{r["pad0_ms"]:>10.3f}{r["pad0_speedup"]:>7.1f}x')
        if not args.skip_models:
            run['models'] = bench_models(models, args.repeats, x)
            print(f'\n{"model (224x224, batch 1)":<34}{"ms":>8}{"vs float":>10}'
                  f'{"weights MB":>12}{"packed MB":>11}{"resident/packed":>17}')
            for r in run['models']:
                packed = f'{r["packed_mb"]:>11.2f}{r["resident_vs_packed"]:>16.3f}x' \
                    if 'packed_mb' in r else ''
                print(f'{r["model"]:<34}{r["ms"]:>8.1f}{r["vs_fp"]:>9.2f}x'
                      f'{r["weights_mb"]:>12.2f}{packed}')
        if args.profile and n == 1:
            run['profile'] = {}
            for name, (label, _, conv) in models.items():
                shares, per_run = profile_model(conv, x)
                run['profile'][name] = dict(shares=shares, ms=1e3 * per_run)
                parts = ', '.join(f'{k} {100 * v:.0f}%' for k, v in
                                  sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.005)
                print(f'\nprofile of {label} ({1e3 * per_run:.1f} ms a run, profiled): {parts}')
        if args.sparse:
            run['sparse'] = bench_sparse(args.repeats)
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
