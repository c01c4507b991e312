"""Measure a model as a user reproduces it: ``tools/test.py CONFIG CHECKPOINT``, and the
metafile ``Results`` that record it.

The published result of a zoo model is what ``tools/test.py CONFIG mmbnn://NAME`` prints on the
config's own evaluation split (``test_dataloader``), nothing typed: :func:`evaluate` runs that
tool in this process (its ``main(argv)``), in a working folder where the evaluation data is
prepared first when a data set needs preparing (:data:`EVAL_DATA`: the synthetic shapes are
generated, deterministically, by their converters; scikit-learn digits and MNIST-5k ship with
their packages). Publishing (:mod:`mmbnn.zoo.publish`), ``tools/misc/zoo.py verify`` and the zoo
tests all go through it, so they measure the same thing.

:data:`METRICS` says how an evaluator's metric is written into ``Results`` (the OpenMMLab names
``Top 1 Accuracy``, ``box AP``, ``mIoU``) and at which precision: the evaluators' own
(mmdet rounds the COCO APs to 3 decimals, given here in percent with 1; mmseg gives mIoU in
percent with 2) or, for accuracy, 2 decimals of a percent, finer than one image for any
evaluation set under 10,000 images.

A result reproduces when the measured value, rounded so, is within the metric's tolerance
(``MetricSpec.tolerance``, in the recorded unit) of the recorded one (:func:`reproduces`); the
zoo test, ``tools/misc/zoo.py verify`` and publishing all check that. Exact equality holds only
on the publisher's CPU: torch's float convolutions (oneDNN) pick their kernels by instruction
set and order their sums by it, the float layers round differently, and a binary network turns
a last-bit difference into a flipped sign. The tolerances were chosen from measurements of every
published model (``python tools/misc/zoo.py spread``; 1 and 2 threads each):

================  ==================================================  =========  ==========
metric            largest |measured - recorded| seen                  tolerance  margin
================  ==================================================  =========  ==========
accuracy (top-k)  0.28 (1 image of 360): oneDNN's AVX-512 default on  0.6        2 images
                  a Zen 4; oneDNN off (ATen's kernels) on a Zen 3
box AP, AP50/75   0.2 (AP75, oneDNN off); 0.1 (box AP: SSE4.1 and     0.4        2x
                  AVX caps on a Zen 3, AVX-512 default on a Zen 4)
mIoU              0 at its recorded 0.01 in every setting             0.1        10 units
================  ==================================================  =========  ==========

The margin (twice the largest difference seen; for mIoU, which never moved, ten units of its
precision) leaves room for CPUs and libraries not measured and for changes of the float path of
the binary layers that move results as these settings do, without re-recording, while a real
regression (a binarizer or a layer computing something else) moves a result by whole points.
"""
import contextlib
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config

from mmbnn.utils import package_root

__all__ = ['MetricSpec', 'METRICS', 'EVAL_DATA', 'Evaluation', 'load_tool', 'evaluate',
           'split_name', 'results_from_metrics', 'recorded_metrics', 'reproduces',
           'prepare_data']


@dataclass(frozen=True)
class MetricSpec:
    """How one evaluator metric is written into a metafile's ``Results``.

    Attributes:
        name (str): The metric's name in ``Metrics`` (OpenMMLab's).
        task (str): ``Task`` of the result. scale (float): Factor to a percentage.
        decimals (int): Decimals recorded.
        tolerance (float): The largest |measured - recorded| (in the recorded unit) with which
            a result still reproduces (module docstring). Default: 0.0 (exact).
    """
    name: str
    task: str
    scale: float
    decimals: int
    tolerance: float = 0.0

    def record(self, value: float) -> float:
        """The recorded form of an evaluator value."""
        return round(float(value) * self.scale, self.decimals)


#: Evaluator key -> how it is recorded; in this order (the first one found is the main result).
METRICS: Dict[str, MetricSpec] = {
    'accuracy/top1': MetricSpec('Top 1 Accuracy', 'Image Classification', 1.0, 2, 0.6),
    'accuracy/top5': MetricSpec('Top 5 Accuracy', 'Image Classification', 1.0, 2, 0.6),
    'coco/bbox_mAP': MetricSpec('box AP', 'Object Detection', 100.0, 1, 0.4),
    'coco/bbox_mAP_50': MetricSpec('box AP50', 'Object Detection', 100.0, 1, 0.4),
    'coco/bbox_mAP_75': MetricSpec('box AP75', 'Object Detection', 100.0, 1, 0.4),
    'mIoU': MetricSpec('mIoU', 'Semantic Segmentation', 1.0, 2, 0.1),
}

#: ``Training Data`` name -> the command (a tool under ``tools/`` and its arguments) that writes
#: its evaluation split where the configs read it, relative to the working folder. One training
#: image is written (the converters' minimum): the validation scenes do not depend on them.
EVAL_DATA: Dict[str, List[str]] = {
    'Synthetic shapes (COCO detection)': [
        'dataset_converters/make_shapes_coco.py', '--out', 'data/shapes_coco/',
        '--num-train', '1'],
    'Synthetic shapes (segmentation)': [
        'dataset_converters/make_shapes_seg.py', '--out', 'data/shapes_seg', '--num-train', '1'],
}

_SPLITS = ('train', 'val', 'test', 'minival', 'test-dev', 'testdev')


def load_tool(name: str):
    """The module of ``tools/<name>`` (``'test.py'``, ``'analysis/summary.py'``), from the
    installed package's ``.mim`` (the source tree's in an editable install)."""
    path = osp.join(package_root(), 'tools', name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'mmbnn tool {name!r} not found at {path}')
    spec = importlib.util.spec_from_file_location(
        f'_mmbnn_tool_{name.replace("/", "_")[:-3]}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: (data set, folder) pairs this process has prepared (see :func:`prepare_data`).
_PREPARED = set()


def prepare_data(dataset: Optional[str], folder: str) -> None:
    """Write the evaluation split of ``dataset`` under ``folder`` if :data:`EVAL_DATA` has a
    recipe for it (else nothing: the data ships with a package or is the user's). A folder this
    process has prepared already, whose output is still there, is not written again."""
    recipe = EVAL_DATA.get(dataset or '')
    if recipe is None:
        return
    key = (dataset, osp.realpath(folder))
    output = osp.join(folder, recipe[recipe.index('--out') + 1])
    if key in _PREPARED and osp.exists(output):
        return
    tool, *args = recipe
    proc = subprocess.run([sys.executable, osp.join(package_root(), 'tools', tool), *args],
                          cwd=folder, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'preparing {dataset!r} ({" ".join(recipe)}) failed:\n'
                           f'{proc.stderr[-2000:]}')
    _PREPARED.add(key)


@contextlib.contextmanager
def _cwd(folder: str):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: the scalar ``metrics`` and the number of ``images`` of
    the evaluation split."""
    metrics: Dict[str, float]
    images: int


def _num_images(config: str) -> int:
    """``len`` of the config's test data set (built as the Runner builds it)."""
    from mmengine.registry import DATASETS, init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmbnn'))
    return len(DATASETS.build(cfg.test_dataloader.dataset))


def evaluate(config: str, checkpoint: str, dataset: Optional[str] = None,
             work_dir: Optional[str] = None, threads: Optional[int] = 1) -> Evaluation:
    """``tools/test.py CONFIG CHECKPOINT`` in this process; returns its scalar metrics and the
    number of images evaluated.

    Args:
        config (str): The config file. checkpoint (str): A path, URL or ``mmbnn://NAME``.
        dataset (str, optional): The ``Training Data`` name; with a recipe in
            :data:`EVAL_DATA` the evaluation runs in ``work_dir`` with the data written there
            first, else in the current folder. Default: None.
        work_dir (str, optional): Working folder (``tools/test.py --work-dir`` too). Default: a
            temporary folder, removed.
        threads (int, optional): torch CPU threads during the run (restored after); 1 by
            default, as the zoo's results are measured: a binary network's signs can flip on
            the last bit of a sum, and the order of a sum depends on the threads. Default: 1.
    """
    config = osp.abspath(config)
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix='mmbnn_eval_'))
        os.makedirs(work_dir, exist_ok=True)
        if dataset in EVAL_DATA:
            prepare_data(dataset, work_dir)
            stack.enter_context(_cwd(work_dir))
        old_threads = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        stack.enter_context(_fresh_managers())
        try:
            test = load_tool('test.py')
            name = f'{osp.splitext(osp.basename(config))[0]}_{uuid.uuid4().hex[:8]}'
            metrics = test.main([config, checkpoint, '--work-dir', osp.abspath(work_dir),
                                 '--cfg-options', f'experiment_name={name}',
                                 'log_level=WARNING'])
            images = _num_images(config)
        finally:
            torch.set_num_threads(old_threads)
    out = {}
    for k, v in (metrics or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return Evaluation(out, images)


@contextlib.contextmanager
def _fresh_managers():
    """Forget the mmengine global instances (visualizers, message hubs, loggers) that a run
    creates, when it ends: the next evaluation in this process would otherwise get the previous
    run's visualizer (``get_instance`` returns it by name), whose save folder is gone."""
    from mmengine.utils import ManagerMixin

    def classes(cls=ManagerMixin):
        for sub in cls.__subclasses__():
            yield sub
            yield from classes(sub)

    before = {cls: set(cls._instance_dict) for cls in classes()}
    try:
        yield
    finally:
        for cls in classes():
            for key in list(cls._instance_dict):
                if key not in before.get(cls, ()):
                    del cls._instance_dict[key]


def split_name(config: str) -> str:
    """The name of the split ``config``'s ``test_dataloader`` evaluates: its dataset's
    ``split``, else the split named in its ``ann_file`` or ``data_prefix`` (``instances_val.json``
    -> ``val``, ``img_dir/val`` -> ``val``).

    Raises:
        ValueError: None of them names a split.
    """
    cfg = Config.fromfile(config)
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset and 'split' not in dataset and 'ann_file' not in dataset:
        dataset = dataset['dataset']  # wrapped data sets
    if dataset.get('split'):
        return str(dataset['split'])
    prefix = dataset.get('data_prefix') or {}
    candidates = [dataset.get('ann_file') or '']
    candidates += list(prefix.values()) if isinstance(prefix, dict) else [str(prefix)]
    for text in candidates:
        for token in reversed(str(text).replace('.', '/').replace('_', '/').split('/')):
            if token in _SPLITS:
                return token
    raise ValueError(f'{config}: cannot tell which split test_dataloader evaluates (no split, '
                     f'and neither ann_file nor data_prefix names one of {_SPLITS}); give it '
                     f'with --split')


def results_from_metrics(metrics: Dict[str, float], dataset: str, split: str,
                         images: Optional[int] = None) -> List[dict]:
    """OpenMMLab ``Results`` (one entry per task) of evaluator ``metrics``: the metrics of
    :data:`METRICS` found, recorded at their precision, with ``Dataset`` and the split.

    Raises:
        KeyError: None of :data:`METRICS` is in ``metrics`` (the message lists both).
    """
    results: Dict[str, dict] = {}
    for key, spec in METRICS.items():
        if key in metrics:
            entry = results.setdefault(spec.task, dict(Task=spec.task, Dataset=dataset,
                                                       Split=split, Images=images, Metrics={}))
            entry['Metrics'][spec.name] = spec.record(metrics[key])
    for entry in results.values():
        if entry['Images'] is None:
            del entry['Images']
        else:
            entry['Images'] = int(entry['Images'])
    if not results:
        raise KeyError(f'the evaluation returned none of the metrics the zoo records '
                       f'({list(METRICS)}); it returned {sorted(metrics)}')
    return list(results.values())


def recorded_metrics(results: Sequence[dict]) -> Dict[str, float]:
    """``{evaluator key: recorded value}`` of a metafile's ``Results``."""
    by_name = {(spec.task, spec.name): key for key, spec in METRICS.items()}
    out = {}
    for entry in results or []:
        for name, value in (entry.get('Metrics') or {}).items():
            key = by_name.get((entry.get('Task'), name))
            if key is not None:
                out[key] = float(value)
    return out


def reproduces(recorded: Dict[str, float], measured: Dict[str, float]) -> List[str]:
    """The differences between ``recorded`` metrics and ``measured`` evaluator values (rounded
    as :data:`METRICS` records them) larger than the metric's tolerance, as readable lines;
    empty when every recorded metric reproduces."""
    problems = []
    for key, value in recorded.items():
        spec = METRICS[key]
        if key not in measured:
            problems.append(f'{key}: recorded {value}, not measured')
            continue
        difference = spec.record(measured[key]) - value
        if abs(difference) > spec.tolerance + 0.5 * 10**-spec.decimals:
            problems.append(f'{key} ({spec.name}): recorded {value}, measured '
                            f'{spec.record(measured[key])} ({measured[key]!r}): |difference| '
                            f'{abs(difference):.{spec.decimals}f} > tolerance {spec.tolerance:g}')
    return problems
