"""Accuracy against sparsity: the generalised binary domain against pruned +-1 weights.

    python tools/analysis/compare_sparsity.py [--ec EC [EC ...]] [--methods KEY [KEY ...]]
                                              [--epochs E] [--img-size N] [--seed S [S ...]]
                                              [--threads T] [--subset N] [--work-dir DIR]
                                              [--json FILE] [--verbose]

Trains the sparse IR-Net ResNet-18 of ``configs/sparse/`` on scikit-learn's handwritten digits
(:class:`mmbnn.datasets.DigitsDataset`, 1437 train / 360 test images) with the mmengine Runner,
once per method, EC (expected connections: the fraction of active weights of every binary
conv) and seed, then tests it on the test split. The methods differ only in the weight
binarizer (same network, data, schedule, EDE gradient, EC from the first iteration,
:class:`mmbnn.engine.SparsityHook`):

- ``sbnn``: :class:`mmbnn.binarizers.SparseBinaryWeight`, the generalised domain
  {phi - tau, phi + tau}; active = the weights at phi + tau (at most half of them: EC 1.0 is the
  dense layer with half of its weights at each value);
- ``pruned``: :class:`mmbnn.binarizers.PrunedSignWeight`, +-tau weights with the (1 - EC)
  smallest |w| of every layer set to 0; active = the non-zero weights.

The table gives, per method and EC: top-1 accuracy on the test split (mean, then every seed's);
the fraction of active binary weights measured on the trained model; the bits per binary weight
when only the active connections are stored (``log2 C(n, k)`` bits for which ``k`` of the ``n``
weights of a layer are active, plus one sign bit per active weight for pruned +-1 weights; 1 bit
for a dense binary layer); the model size in kB with that storage (every other parameter at its
bit width, as :func:`mmbnn.analysis.summarize` counts it); and the binary MACs (BOPs) when only
the active connections are computed (plus the shared window sums of the generalised domain),
from the summary of the trained model. The dense figures are printed above the table.

It runs the model configs' schedule (Adam, cosine) for ``--epochs`` epochs at ``--img-size``
pixels. Defaults fit about 15 minutes on 2 busy CPU cores: ``--threads 1`` (PyTorch's own
threads fight other processes for the cores and run several times slower on a loaded machine).
Without ``--work-dir`` the runs go to a temporary folder, removed at the end.
"""
import argparse
import json
import os.path as osp
import shutil
import statistics
import sys
import tempfile
import time
from collections import OrderedDict

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import compare_digits  # noqa: E402  (tools/analysis/compare_digits.py: make_config)

import mmbnn  # noqa: E402,F401  (registries; safe checkpoint loading)
from mmbnn.analysis import summarize  # noqa: E402
from mmbnn.analysis.summary import BITS_PER_KB, BOPS_PER_OP  # noqa: E402
from mmbnn.binarizers.sparse import layer_sparsity  # noqa: E402
from mmbnn.engine.sparsity_hook import active_fraction  # noqa: E402

#: key -> (config file, relative to configs/digits/, as compare_digits.make_config reads it;
#: name in the table)
METHODS = OrderedDict([
    ('sbnn', ('../sparse/sbnn-irnet-r18-w16-ec10_1xb64_digits.py',
              'generalised {phi - tau, phi + tau}')),
    ('pruned', ('../sparse/pruned-irnet-r18-w16-ec10_1xb64_digits.py',
                '+-1, magnitude-pruned')),
])
DEFAULT_EC = (1.0, 0.25, 0.1, 0.05)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Accuracy, memory and BOPs against the fraction of active weights (EC) on '
                    'the scikit-learn digits: generalised binary domain vs pruned +-1 weights')
    parser.add_argument('--ec', type=float, nargs='+', default=list(DEFAULT_EC), metavar='EC',
                        help='fractions of active weights, in (0, 1] (default: 1.0 0.25 0.1 '
                        '0.05)')
    parser.add_argument('--methods', nargs='+', choices=list(METHODS), default=list(METHODS),
                        metavar='KEY', help=f'weight binarizers, of: {", ".join(METHODS)} '
                        '(default: both)')
    parser.add_argument('--epochs', type=int, default=12,
                        help='training epochs of every run (default: 12)')
    parser.add_argument('--img-size', type=int, default=8,
                        help='image size the 8x8 digits are resized to (default: 8)')
    parser.add_argument('--seed', type=int, nargs='+', default=[0], metavar='S',
                        help='random seeds; each run trains once per seed (default: 0)')
    parser.add_argument('--threads', type=int, default=1,
                        help='PyTorch CPU threads (default: 1)')
    parser.add_argument('--subset', type=int, metavar='N',
                        help='train on the first N training images only')
    parser.add_argument('--work-dir', help='folder for the runs (default: a temporary folder, '
                        'removed at the end)')
    parser.add_argument('--json', metavar='FILE', help='also write the results to FILE')
    parser.add_argument('--verbose', action='store_true', help="show the Runner's INFO logs")
    args = parser.parse_args(argv)
    for ec in args.ec:
        if not 0 < ec <= 1:
            parser.error(f'--ec: EC (the fraction of active weights) must be in (0, 1], got {ec}')
    for name in ('epochs', 'img_size', 'threads', 'subset'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {value}')
    return args


def make_config(method: str, ec: float, work_dir: str, seed: int, epochs: int, img_size: int,
                subset=None, verbose=False):
    """The config of one run: :func:`compare_digits.make_config` (no validation during
    training, no checkpoints, the seed, the epochs) with this EC and image size."""
    compare_digits.MODELS.setdefault(f'sparse-{method}', METHODS[method])
    cfg = compare_digits.make_config(f'sparse-{method}', work_dir, seed, epochs, subset, verbose)
    cfg.model.backbone.conv_cfg.weight_binarizer.ec = ec
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        for t in loader.dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (img_size, img_size)
    return cfg


def sparse_summary(model, summary) -> dict:
    """Dense and sparse totals of a summarised model: the size in kB and the BOPs with only the
    active connections of its sparse binary layers stored and computed."""
    modules = dict(model.named_modules())
    sparse_bits = summary.size_kb * BITS_PER_KB
    sparse_bops = summary.bops
    mask_bits = weights = 0
    for row in summary.rows:
        stats = layer_sparsity(modules[row.name]) if row.name in modules else None
        if stats is None:
            continue
        # the layer's weight, counted by the summary at weight_bits per weight, is replaced by
        # its sparse encoding
        sparse_bits += stats['sparse_bits'] - stats['weights'] * row.weight_bits
        sparse_bops += row.bops * (min(stats['mac_fraction'], 1.0) - 1)
        mask_bits += stats['sparse_bits']
        weights += stats['weights']
    return dict(size_kb=summary.size_kb, bops=summary.bops, flops=summary.flops,
                ops=summary.ops, sparse_size_kb=sparse_bits / BITS_PER_KB,
                sparse_bops=sparse_bops, sparse_ops=sparse_bops / BOPS_PER_OP + summary.flops,
                bits_per_weight=mask_bits / weights if weights else float('nan'))


def run_one(method: str, ec: float, work_dir: str, seed: int, epochs: int, img_size: int,
            subset=None, verbose=False) -> dict:
    """Train and test one model; returns a dict of its results."""
    cfg = make_config(method, ec, work_dir, seed, epochs, img_size, subset, verbose)
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - start
    metrics = runner.test()
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    summary = summarize(model, input_shape=(3, img_size, img_size))
    return dict(method=method, ec=ec, seed=seed, epochs=epochs, img_size=img_size,
                top1=float(metrics['accuracy/top1']), active=active_fraction(model),
                train_s=train_s, **sparse_summary(model, summary))


def format_table(results) -> str:
    """A Markdown table, one row per method and EC (seeds aggregated)."""
    rows = OrderedDict()
    for r in results:
        rows.setdefault((r['method'], r['ec']), []).append(r)
    lines = ['| weights | EC | top-1 (%) | per seed | active (%) | bits / binary weight '
             '| sparse size (kB) | sparse BOPs (M) | train s/run |',
             '|---|---|---|---|---|---|---|---|---|']
    for (method, ec), runs in rows.items():
        accs = [r['top1'] for r in runs]
        mean = statistics.mean(accs)
        acc = f'{mean:.2f} ± {statistics.stdev(accs):.2f}' if len(accs) > 1 else f'{mean:.2f}'
        r = runs[0]
        lines.append(
            f'| {METHODS[method][1]} | {ec:g} | {acc} | {" / ".join(f"{a:.2f}" for a in accs)} '
            f'| {100 * r["active"]:.1f} | {r["bits_per_weight"]:.3f} '
            f'| {r["sparse_size_kb"]:.1f} '
            f'| {r["sparse_bops"] / 1e6:.3f} '
            f'| {statistics.mean(x["train_s"] for x in runs):.0f} |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    work_root = args.work_dir or tempfile.mkdtemp(prefix='compare_sparsity_')
    results = []
    start = time.perf_counter()
    try:
        for seed in args.seed:
            for ec in args.ec:
                for method in args.methods:
                    r = run_one(method, ec, osp.join(work_root, f'{method}-ec{ec:g}',
                                                     f'seed{seed}'),
                                seed, args.epochs, args.img_size, args.subset, args.verbose)
                    results.append(r)
                    print(f'{method} EC {ec:g} seed {seed}: top-1 {r["top1"]:.2f}%, active '
                          f'{100 * r["active"]:.1f}% ({r["train_s"]:.0f} s)', flush=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_root, ignore_errors=True)
    r = results[0]
    print(f'\nscikit-learn digits, {args.subset or 1437} train / 360 test images at '
          f'{args.img_size}x{args.img_size}, IR-Net ResNet-18 (width 16), {args.epochs} epochs, '
          f'seed(s) {", ".join(map(str, args.seed))}; {time.perf_counter() - start:.0f} s in '
          f'all. Dense binary model: {r["size_kb"]:.1f} kB, {r["bops"] / 1e6:.3f} M BOPs, '
          f'{r["flops"] / 1e6:.3f} M FLOPs.\n')
    print(format_table(results))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), results=results), f, indent=1)
    return results


if __name__ == '__main__':
    sys.exit(main() and 0)
