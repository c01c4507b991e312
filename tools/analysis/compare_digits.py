"""Train the digits models (configs/digits/) with the mmengine Runner and compare them.

    python tools/analysis/compare_digits.py [--models KEY ...] [--epochs E] [--seed S [S ...]]
                                            [--work-dir DIR] [--subset N] [--threads N]
                                            [--json FILE] [--load-json FILE [FILE ...]]

Every model trains in this process through ``Runner.from_cfg`` at the same number of epochs, on
scikit-learn's handwritten digits (:class:`mmbnn.datasets.DigitsDataset`: 1437 train / 360 test
images), then is tested on the test split. The table gives, per model, the top-1 accuracy on the
test split (mean and standard deviation over the seeds, then every seed's), and from
:func:`mmbnn.analysis.summarize` at the configs' input size: BOPs (binary multiply-accumulates),
FLOPs (real ones), OPs = BOPs / 64 + FLOPs, and the model size in kB with every binary weight
counted as 1 bit and every other parameter as 32, and the CPU seconds of training (mean over
the seeds; process time, which unlike wall time hardly depends on what else the machine runs).

Without ``--work-dir`` the runs go to a temporary folder, removed at the end. ``--subset N``
trains on the first N training images only (a quick check of the script itself). ``--json``
saves the results; ``--load-json`` prints the table of saved results (runs of different seeds
made in parallel processes, say) without training.
"""
import argparse
import json
import os.path as osp
import shutil
import statistics
import tempfile
import time
from collections import OrderedDict

import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmbnn  # noqa: F401  (registries; safe checkpoint loading)
from mmbnn.analysis import summarize

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(ROOT, 'configs', 'digits')

#: key -> (config file in configs/digits/, name in the table)
MODELS = OrderedDict([
    ('fp', ('resnet18-w16_1xb64_digits.py', 'ResNet-18 (full precision)')),
    ('bnn', ('bnn-r18-w16_1xb64_digits.py', 'BNN ResNet-18')),
    ('xnor', ('xnornet-r18-w16_1xb64_digits.py', 'XNOR-Net ResNet-18')),
    ('bireal', ('birealnet-r18-w16_1xb64_digits.py', 'Bi-Real Net-18')),
    ('reactnet', ('reactnet-r18-w16_1xb64_digits.py', 'ReActNet-style ResNet-18')),
    ('irnet', ('irnet-r18-w16_1xb64_digits.py', 'IR-Net ResNet-18')),
    ('groupnet-k1', ('groupnet-r18-w16-1b_1xb64_digits.py', 'Group-Net ResNet-18, K=1')),
    ('groupnet-k3', ('groupnet-r18-w16-3b_1xb64_digits.py', 'Group-Net ResNet-18, K=3')),
    ('groupnet-k5', ('groupnet-r18-w16-5b_1xb64_digits.py', 'Group-Net ResNet-18, K=5')),
])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train binary ResNets and a full-precision one on the scikit-learn digits '
                    'and compare accuracy, BOPs and memory')
    parser.add_argument('--models', nargs='+', choices=list(MODELS), default=list(MODELS),
                        metavar='KEY', help=f'models to run, of: {", ".join(MODELS)} '
                        '(default: all)')
    parser.add_argument('--epochs', type=int, help='training epochs of every model '
                        '(default: the configs\', 30)')
    parser.add_argument('--seed', type=int, nargs='+', default=[0], metavar='S',
                        help='random seeds; each model trains once per seed (default: 0)')
    parser.add_argument('--work-dir', help='folder for the runs (default: a temporary folder, '
                        'removed at the end)')
    parser.add_argument('--subset', type=int, metavar='N',
                        help='train on the first N training images only')
    parser.add_argument('--threads', type=int, default=1, metavar='N',
                        help='torch CPU threads (default: 1; these small convolutions gain '
                        'little from more, and lose much when the cores are shared)')
    parser.add_argument('--json', metavar='FILE', help='also write the results to FILE')
    parser.add_argument('--load-json', nargs='+', metavar='FILE',
                        help='train nothing: print the table of results saved with --json '
                        '(several files, e.g. one per seed, are merged)')
    parser.add_argument('--verbose', action='store_true', help="show the Runner's INFO logs")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f'--epochs must be >= 1, got {args.epochs}')
    if args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    if args.subset is not None and args.subset < 1:
        parser.error(f'--subset must be >= 1, got {args.subset}')
    return args


def make_config(key: str, work_dir: str, seed: int, epochs=None, subset=None,
                verbose: bool = False) -> Config:
    """The config of ``key`` set up for one comparison run: no validation during training (the
    test split is evaluated once, by ``runner.test()``), no checkpoints, the given seed."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, MODELS[key][0]))
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=False)
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
        for sched in cfg.param_scheduler:
            if 'T_max' in sched:
                sched['T_max'] = epochs
    cfg.train_cfg.pop('val_interval', None)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    if subset is not None:
        cfg.train_dataloader.dataset.indices = subset
    cfg.log_level = 'INFO' if verbose else 'WARNING'
    return cfg


def run_one(key: str, work_dir: str, seed: int, epochs=None, subset=None, verbose=False):
    """Train and test one model; returns a dict of its results."""
    cfg = make_config(key, work_dir, seed, epochs, subset, verbose)
    runner = Runner.from_cfg(cfg)
    start, cpu_start = time.perf_counter(), time.process_time()
    runner.train()
    train_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    metrics = runner.test()
    size = cfg.get('img_size', 8)
    summary = summarize(runner.model, input_shape=(3, size, size))
    return dict(model=key, seed=seed, epochs=cfg.train_cfg.max_epochs, img_size=size,
                train_images=len(runner.train_dataloader.dataset),
                test_images=len(runner.test_dataloader.dataset),
                top1=float(metrics['accuracy/top1']), train_s=train_s, cpu_s=cpu_s,
                bops=summary.bops, flops=summary.flops, ops=summary.ops,
                size_kb=summary.size_kb, params=summary.params)


def format_table(results) -> str:
    """A Markdown table, one row per model (seeds aggregated)."""
    rows = OrderedDict()
    for r in results:
        rows.setdefault(r['model'], []).append(r)
    lines = ['| model | top-1 (%) | per seed | BOPs (M) | FLOPs (M) | OPs (M) | size (kB) '
             '| train CPU s |',
             '|---|---|---|---|---|---|---|---|']
    for key, runs in rows.items():
        accs = [r['top1'] for r in runs]
        mean = statistics.mean(accs)
        acc = f'{mean:.2f} ± {statistics.stdev(accs):.2f}' if len(accs) > 1 else f'{mean:.2f}'
        r = runs[0]
        lines.append(
            f'| {MODELS[key][1]} | {acc} | {" / ".join(f"{a:.2f}" for a in accs)} '
            f'| {r["bops"] / 1e6:.2f} | {r["flops"] / 1e6:.2f} | {r["ops"] / 1e6:.2f} '
            f'| {r["size_kb"]:.1f} | {statistics.mean(x["cpu_s"] for x in runs):.0f} |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.load_json:
        results = []
        for path in args.load_json:
            with open(path) as f:
                results += json.load(f)['results']
        results = [r for r in results if r['model'] in args.models]
    else:
        results = train_all(args)
    r = results[0]
    seeds = sorted({x['seed'] for x in results})
    print(f'\nscikit-learn digits, {r["train_images"]} train / {r.get("test_images", 360)} test '
          f'images at '
          f'{r["img_size"]}x{r["img_size"]}, {r["epochs"]} epochs, '
          f'seed{"s" if len(seeds) > 1 else ""} {", ".join(map(str, seeds))}:\n')
    print(format_table(results))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), results=results), f, indent=1)
    return results


def train_all(args):
    torch.set_num_threads(args.threads)
    work_root = args.work_dir or tempfile.mkdtemp(prefix='compare_digits_')
    results = []
    try:
        for seed in args.seed:
            for key in args.models:
                r = run_one(key, osp.join(work_root, key, f'seed{seed}'), seed, args.epochs,
                            args.subset, args.verbose)
                results.append(r)
                print(f'{key} seed {seed}: top-1 {r["top1"]:.2f}% ({r["epochs"]} epochs, '
                      f'{r["train_s"]:.0f} s, {r["cpu_s"]:.0f} CPU s)', flush=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_root, ignore_errors=True)
    return results


if __name__ == '__main__':
    main()
