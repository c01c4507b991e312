"""Publish a trained model into the zoo: a packed file in the release folder, its hash and its
measured result in the model's metafile entry.

:func:`publish_model` (``tools/misc/publish_model.py``; ``tools/misc/publish_zoo.py`` for a
list):

1. builds the config's model and loads the trained checkpoint strictly;
2. packs it (:func:`mmbnn.deploy.pack_model`: binary layers as bits plus scales; only ``meta``,
   ``state_dict`` and ``packed_weights`` are kept, so the optimizer, the message hub and the
   schedulers' state are dropped) with the checkpoint's ``meta`` and a ``meta['zoo']`` record
   (name, config, date, the source checkpoint's SHA-256);
3. names the file ``<model-name>_<yyyymmdd>-<first 8 hex of its SHA-256>.pth``;
4. checks that the file, read back through the ordinary checkpoint path, loads strictly into a
   fresh model with the same effective weights as the trained one, and measures it as a user
   would: ``tools/test.py CONFIG mmbnn://NAME`` against a temporary index and zoo holding just
   this file (:func:`mmbnn.zoo.evaluate.evaluate`, single-threaded, with the evaluation data
   prepared the way the zoo tests prepare it);
5. with ``results_json`` (an :mod:`mmbnn.analysis.experiment` result): finds the run of this
   checkpoint, refuses runs whose ``cfg_options`` change the model (the config would not
   describe it), and requires the re-measured result to agree with the run's, within the
   metric's tolerance (:data:`mmbnn.zoo.evaluate.METRICS`), when the run was evaluated on the
   config's own evaluation split;
6. moves the file into the release folder (replacing the model's earlier files), and writes
   ``Weights`` (the file name, relative to the zoo base URL), ``Metadata: Weights SHA256`` and
   ``Results`` (metric, data set, split, number of images) into the model's metafile entry,
   creating the entry (``Config``, ``In Collection``, ``Training Data`` and the summary's
   counts through ``tools/analysis/summary.py``) and its metafile when missing.

Nothing is written unless every check passes.
"""
import difflib
import hashlib
import io
import os
import os.path as osp
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import torch
import yaml
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import load_state_dict

from mmbnn.analysis.experiment import load_results
from mmbnn.analysis.metafile import (add_metafile_to_index, read_metafile, set_model_entry)
from mmbnn.deploy.packing import as_loadable_checkpoint, binary_layers, pack_model
from mmbnn.utils import strip_module_prefix
from .evaluate import (EVAL_DATA, METRICS, evaluate, load_tool, recorded_metrics, reproduces,
                       results_from_metrics, split_name)
from .index import (MODEL_INDEX_ENV, RELEASE_DIR, SHA256_KEY, ZOO_URL_ENV, find_model_index,
                    load_model_index)

__all__ = ['PublishError', 'Published', 'publish_model', 'find_run', 'model_name',
           'weights_filename', 'release_files']

_DATE_RE = re.compile(r'\d{8}')


class PublishError(RuntimeError):
    """A model cannot be published as asked (nothing was written)."""


@dataclass
class Published:
    """What :func:`publish_model` wrote."""
    name: str
    filename: str
    path: str
    sha256: str
    size: int
    results: List[dict]
    metafile: str
    created_entry: bool
    notes: List[str] = field(default_factory=list)


def model_name(config: str) -> str:
    """The zoo name of a config: its file name without ``.py`` (as the index names models)."""
    return osp.splitext(osp.basename(config))[0]


def weights_filename(name: str, date: str, sha256: str) -> str:
    """``<name>_<yyyymmdd>-<first 8 hex of the SHA-256>.pth``."""
    return f'{name}_{date}-{sha256[:8]}.pth'


def release_files(name: str, release_dir: str) -> List[str]:
    """The files of model ``name`` in ``release_dir`` (``<name>_<8 digits>-<hex>.pth``)."""
    pattern = re.compile(re.escape(name) + r'_\d{8}-[0-9a-f]{8,64}\.pth$')
    if not osp.isdir(release_dir):
        return []
    return sorted(f for f in os.listdir(release_dir) if pattern.fullmatch(f))


def _real(path: str) -> str:
    return osp.realpath(osp.abspath(path))


# --------------------------------------------------------------------------- experiment runs
def find_run(results_json: str, checkpoint: Optional[str] = None, key: Optional[str] = None,
             seed: Optional[int] = None) -> dict:
    """The run of an experiment result file (``mmbnn.experiment/1``) that trained
    ``checkpoint`` (its ``checkpoint`` field), or the one of ``key`` and ``seed``.

    Raises:
        PublishError: No run, or several, match (the message lists the runs).
    """
    runs = load_results([results_json])['runs']
    chosen = runs
    if checkpoint is not None:
        chosen = [r for r in chosen if r.get('checkpoint') and
                  _real(r['checkpoint']) == _real(checkpoint)]
    if key is not None:
        chosen = [r for r in chosen if r['key'] == key]
    if seed is not None:
        chosen = [r for r in chosen if r['seed'] == seed]
    if len(chosen) != 1:
        listed = '\n'.join(f'  key={r["key"]} seed={r["seed"]} checkpoint={r.get("checkpoint")}'
                           for r in runs)
        raise PublishError(
            f'{results_json}: {len(chosen)} runs match checkpoint={checkpoint} key={key} '
            f'seed={seed} (need exactly one); its runs:\n{listed}')
    return chosen[0]


def _flat(obj, prefix=''):
    """``{dotted key: leaf}`` of nested dicts (lists and other values are leaves)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f'{prefix}{k}.'))
        return out
    return {prefix[:-1]: obj}


def _diff(a: dict, b: dict, keys) -> List[str]:
    """Dotted keys under ``keys`` whose values differ between configs ``a`` and ``b``."""
    fa = _flat({k: a.get(k) for k in keys})
    fb = _flat({k: b.get(k) for k in keys})
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


_MODEL_KEYS = ('model', 'data_preprocessor', 'default_scope', 'custom_imports')


def _check_run(run: dict, config: str):
    """Refuse a run whose model (its config with its ``cfg_options``) is not the model that
    ``config`` builds; returns ``(whether the run was evaluated on other data than
    ``config``'s test split, notes)``."""
    from mmbnn.utils import config_path
    run_config = run['config'] if osp.isfile(run['config']) else config_path(run['config'])
    trained = Config.fromfile(run_config)
    if run.get('cfg_options'):
        trained.merge_from_dict(dict(run['cfg_options']))
    trained = trained.to_dict()
    ours = Config.fromfile(config).to_dict()
    model_diff = _diff(trained, ours, _MODEL_KEYS)
    if model_diff:
        raise PublishError(
            f'the run {run["key"]!r} (seed {run["seed"]}) trained {run_config} with cfg_options '
            f'{run.get("cfg_options") or {}}: its model differs from the one {config} builds at '
            f'{model_diff[:8]}{"..." if len(model_diff) > 8 else ""}, so `tools/test.py CONFIG '
            f'mmbnn://NAME` could not rebuild it. Publish it with a config that sets these '
            f'options')
    eval_keys = ('test_dataloader', 'test_evaluator', 'test_cfg')
    if run.get('eval_split') == 'val':
        trained = dict(trained, **{f'test_{k}': trained.get(f'val_{k}')
                                   for k in ('dataloader', 'evaluator', 'cfg')})
    eval_diff = _diff(trained, ours, eval_keys)
    notes = []
    if eval_diff:
        notes.append(f'the run was evaluated on other data or settings than {osp.basename(config)}'
                     f'\'s test split ({eval_diff[:4]}{"..." if len(eval_diff) > 4 else ""}); the '
                     f'result recorded is the one measured on the config\'s split')
    length = (f'{run["epochs"]} epochs' if run.get('epochs') else f'{run.get("iters")} iters')
    notes.append(f'trained by experiment run {run["key"]!r} seed {run["seed"]} of '
                 f'{osp.basename(run_config)} ({length}, {run.get("train_samples")} training '
                 f'samples)')
    return bool(eval_diff), notes


# --------------------------------------------------------------------------- model and file
def _load_trained(cfg: Config, checkpoint: str):
    """``(model, meta)``: the config's model with the checkpoint's weights, strictly."""
    init_default_scope(cfg.get('default_scope', 'mmbnn'))
    model = MODELS.build(cfg.model)
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = strip_module_prefix(ckpt)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise PublishError(f'{checkpoint} is not a checkpoint of {cfg.filename}: {e}') from e
    return model.eval(), dict(ckpt.get('meta') or {})


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def _check_loadable(cfg: Config, data: bytes, trained: torch.nn.Module) -> None:
    """The file's bytes, read back as a loader hands them to a model, load strictly into a
    fresh model with bit-for-bit the trained model's effective weights and other tensors."""
    ckpt = as_loadable_checkpoint(torch.load(io.BytesIO(data), map_location='cpu',
                                             weights_only=True))
    fresh = MODELS.build(cfg.model).eval()
    load_state_dict(fresh, ckpt['state_dict'], strict=True)
    packed = {name for name, _ in binary_layers(trained)}
    with torch.no_grad():
        for name in packed:
            a, b = (m.weight_binarizer(m.weight)
                    for m in (trained.get_submodule(name), fresh.get_submodule(name)))
            if not torch.equal(a, b):
                raise PublishError(f'layer {name}: the published weights do not rebuild the '
                                   f'trained effective weight exactly')
        theirs = trained.state_dict()
        for key, value in fresh.state_dict().items():
            layer = key.rsplit('.', 1)[0]
            if layer in packed and key.endswith('.weight'):
                continue
            if key in theirs and not torch.equal(value, theirs[key]):
                raise PublishError(f'{key}: the published tensor differs from the trained one')


def _measure(config: str, name: str, data: bytes, filename: str, sha256: str,
             dataset: Optional[str]):
    """``tools/test.py CONFIG mmbnn://NAME`` against a temporary index and zoo holding only
    this file (environment and torch hub folder restored after)."""
    with tempfile.TemporaryDirectory(prefix='mmbnn_publish_') as tmp:
        with open(osp.join(tmp, filename), 'wb') as f:
            f.write(data)
        entry = dict(Name=name, Config=osp.abspath(config),
                     Metadata={SHA256_KEY: sha256}, Weights=filename)
        with open(osp.join(tmp, 'metafile.yml'), 'w') as f:
            yaml.safe_dump(dict(Models=[entry]), f, sort_keys=False)
        with open(osp.join(tmp, 'model-index.yml'), 'w') as f:
            yaml.safe_dump(dict(Import=['metafile.yml']), f)
        saved = {k: os.environ.get(k) for k in (MODEL_INDEX_ENV, ZOO_URL_ENV)}
        hub = torch.hub.get_dir()
        os.environ[MODEL_INDEX_ENV] = osp.join(tmp, 'model-index.yml')
        os.environ[ZOO_URL_ENV] = tmp
        torch.hub.set_dir(osp.join(tmp, 'hub'))
        try:
            return evaluate(config, f'mmbnn://{name}', dataset=dataset,
                            work_dir=osp.join(tmp, 'work'))
        finally:
            torch.hub.set_dir(hub)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


# --------------------------------------------------------------------------- metafile entry
def _collection_for(name: str, models: dict, wanted: Optional[str]):
    """``(collection name, its Collections item)``: ``wanted``, or the collection of the
    index's model closest in name to ``name``."""
    with_collection = {}
    for info in models.values():
        data = read_metafile(info.metafile)
        entry = next((m for m in data.get('Models') or [] if m.get('Name') == info.name), {})
        if entry.get('In Collection'):
            with_collection[info.name] = (entry['In Collection'], data)
    if wanted is None:
        close = difflib.get_close_matches(name, list(with_collection), n=1, cutoff=0.0)
        if not close:
            raise PublishError(f'no model of the index has a collection to take for {name!r}; '
                               f'give one with --collection')
        wanted = with_collection[close[0]][0]
    for _, data in with_collection.values():
        for c in data.get('Collections') or []:
            if c.get('Name') == wanted:
                return wanted, c
    known = sorted({c for c, _ in with_collection.values()})
    raise PublishError(f'no collection named {wanted!r} in the index; known: {known}')


def publish_model(config: str, checkpoint: str, *, index: Optional[str] = None,
                  release_dir: Optional[str] = None, results_json: Optional[str] = None,
                  run_key: Optional[str] = None, seed: Optional[int] = None,
                  dataset: Optional[str] = None, split: Optional[str] = None,
                  collection: Optional[str] = None, date: Optional[str] = None,
                  verify: bool = True, summary_shape: Optional[List[int]] = None,
                  log: Callable[[str], None] = print) -> Published:
    """Publish ``checkpoint`` of ``config`` (module docstring).

    Args:
        config (str): The config the checkpoint was trained with; inside the index's root.
        checkpoint (str): The trained checkpoint (local file, URL or ``mmbnn://NAME``).
        index (str, optional): The root ``model-index.yml`` to write into. Default: the one
            :func:`~mmbnn.zoo.index.find_model_index` finds (the source tree's when editable).
        release_dir (str, optional): The release folder. Default: :data:`RELEASE_DIR`.
        results_json (str, optional): An experiment result file holding the run that trained
            ``checkpoint`` (see :func:`find_run`; ``run_key`` and ``seed`` pick a run when its
            ``checkpoint`` field is not this path). Default: None.
        dataset (str, optional): ``Training Data`` of a new entry (an existing entry's is
            used otherwise; they must agree). Default: None.
        split (str, optional): The evaluation split's name. Default: from the config
            (:func:`~mmbnn.zoo.evaluate.split_name`).
        collection (str, optional): ``In Collection`` of a new entry. Default: that of the
            index's model closest in name.
        date (str, optional): ``yyyymmdd`` in the file name. Default: today (UTC).
        verify (bool): Measure the published file with ``tools/test.py``. Without it the
            result comes from ``results_json``, which is then required. Default: True.
        summary_shape (list[int], optional): Input size (``H``, ``H W`` or ``C H W``) at which
            a new entry's counts are taken (``tools/analysis/summary.py --shape``). Default:
            the summary tool's, from the config's test pipeline.
        log (callable): Where progress lines go. Default: ``print``.

    Raises:
        PublishError: Any check failed; nothing was written.
    """
    config = osp.abspath(config)
    if not osp.isfile(config):
        raise PublishError(f'config {config} does not exist')
    index = _real(index or find_model_index())
    root = osp.dirname(index)
    release_dir = osp.abspath(release_dir or RELEASE_DIR)
    rel_config = osp.relpath(_real(config), root)
    if rel_config.startswith('..'):
        raise PublishError(f'config {config} is outside the index root {root}: the index names '
                           f'configs relative to it')
    date = date or time.strftime('%Y%m%d', time.gmtime())
    if not _DATE_RE.fullmatch(date):
        raise PublishError(f'date must be yyyymmdd, got {date!r}')
    if not verify and not results_json:
        raise PublishError('without verification the result must come from --results-json')

    name = model_name(config)
    models = load_model_index(index)
    info = next((m for m in models.values() if m.config and _real(m.config) == _real(config)),
                None)
    if info is not None and info.name != name:
        raise PublishError(f'the index names {rel_config} {info.name!r}, not {name!r}')
    if info is None and name in models:
        raise PublishError(f'the index has a model {name!r} with another config: '
                           f'{models[name].config}')
    known_data = (info.metadata or {}).get('Training Data') if info else None
    if dataset and known_data and dataset != known_data:
        raise PublishError(f'{name}: --dataset {dataset!r} disagrees with its Training Data '
                           f'{known_data!r} in {info.metafile}')
    dataset = dataset or known_data
    if not dataset:
        raise PublishError(f'{name} is not in the index yet: give its data set name with '
                           f'--dataset (the data sets whose evaluation split the zoo generates: '
                           f'{list(EVAL_DATA)})')
    split = split or split_name(config)

    notes, run, eval_differs = [], None, False
    if results_json:
        run = find_run(results_json, checkpoint, run_key, seed)
        eval_differs, run_notes = _check_run(run, config)
        notes += run_notes
        if eval_differs and not verify:
            raise PublishError(f'{name}: {notes[0]}; measure it (drop --no-verify)')

    cfg = Config.fromfile(config)
    trained, meta = _load_trained(cfg, checkpoint)
    source_sha = _sha256_file(checkpoint) if osp.isfile(checkpoint) else None
    meta['zoo'] = dict(name=name, config=rel_config.replace(os.sep, '/'), date=date,
                       source_checkpoint=osp.basename(checkpoint), source_sha256=source_sha)
    packed = pack_model(trained, meta=meta)
    skipped = packed['meta']['packing']['unpacked_binary_layers']
    if skipped:
        notes.append(f'binary layers kept in full precision: {skipped}')
    buf = io.BytesIO()
    torch.save(packed, buf)
    data = buf.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    filename = weights_filename(name, date, sha256)
    _check_loadable(cfg, data, trained)
    log(f'{name}: packed {len(packed["packed_weights"])} binary layers, {len(data)} bytes, '
        f'sha256 {sha256}')

    if verify:
        measured = _measure(config, name, data, filename, sha256, dataset)
        metrics, images = measured.metrics, measured.images
        log(f'{name}: tools/test.py {rel_config} mmbnn://{name}: '
            + ', '.join(f'{k} {v:g}' for k, v in metrics.items() if k in METRICS))
        if run is not None and not eval_differs:
            expected = {k: METRICS[k].record(v) for k, v in run['metrics'].items()
                        if k in METRICS}
            problems = reproduces(expected, metrics)
            if problems:
                raise PublishError(f'{name}: the published file does not reproduce the run\'s '
                                   f'result: {"; ".join(problems)}')
    else:
        metrics, images = run['metrics'], run.get('eval_samples')
    results = results_from_metrics(metrics, dataset, split, images)

    # write: the file, then the metafile entry
    os.makedirs(release_dir, exist_ok=True)
    path = osp.join(release_dir, filename)
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)
    for old in release_files(name, release_dir):
        if old != filename:
            os.remove(osp.join(release_dir, old))
            notes.append(f'replaced {old}')
    fields = dict(weights=filename, metadata={SHA256_KEY: sha256}, results=results)
    created = info is None
    if created:
        metafile = osp.join(osp.dirname(_real(config)), 'metafile.yml')
        coll_name, coll = _collection_for(name, models, collection)
        new_entry = {'In Collection': coll_name, 'Metadata': {'Training Data': dataset},
                     'Config': rel_config.replace(os.sep, '/')}
        set_model_entry(metafile, name, new_entry=new_entry, collection=coll, **fields)
        if add_metafile_to_index(index, metafile):
            notes.append(f'added {osp.relpath(metafile, root)} to {osp.basename(index)}')
        shape = ['--shape', *map(str, summary_shape)] if summary_shape else []
        load_tool('analysis/summary.py').main(
            [config, '--json', os.devnull, '--update-metafile', metafile, '--model-name', name,
             *shape])
    else:
        metafile = info.metafile
        set_model_entry(metafile, name, **fields)
    published = Published(name=name, filename=filename, path=path, sha256=sha256,
                          size=len(data), results=results, metafile=_real(metafile),
                          created_entry=created, notes=notes)
    log(f'{name}: published {path} ({len(data) / 1024:.1f} kB); '
        f'{"created" if created else "updated"} its entry in {osp.relpath(metafile, root)}: '
        + ', '.join(f'{k} {v}' for k, v in recorded_metrics(results).items()))
    for note in notes:
        log(f'  note: {note}')
    return published
