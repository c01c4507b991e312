"""The model index lists every config exactly once, and its metadata agrees with the summary."""
import json
import os
import os.path as osp

import yaml

from conftest import ROOT, python_tool, run
from mmbnn.zoo import load_model_index

INDEX = osp.join(ROOT, 'model-index.yml')


def indexed():
    return load_model_index(INDEX)


def test_every_config_is_indexed_once_and_exists():
    """Every config of configs/<folder>/ is indexed once (quick starts only when published to
    the zoo); _base_ files and configs/*.py are building blocks, not models."""
    models = indexed()
    configs = {osp.normpath(m.config) for m in models.values()}
    assert len(configs) == len(models)
    assert all(osp.isfile(c) for c in configs)
    on_disk, quickstart = set(), set()
    for folder, _, files in os.walk(osp.join(ROOT, 'configs')):
        parts = osp.relpath(folder, osp.join(ROOT, 'configs')).split(os.sep)
        if parts[0] in ('.', '_base_'):
            continue
        found = {osp.normpath(osp.join(folder, f)) for f in files
                 if f.endswith('.py') and not f.startswith('_')}
        (quickstart if parts[0] == 'quickstart' else on_disk).update(found)
    assert on_disk <= configs, f'configs missing from the index: {sorted(on_disk - configs)}'
    assert configs <= on_disk | quickstart, sorted(configs - on_disk - quickstart)
    for m in models.values():  # a quick start is indexed when the zoo publishes it
        if osp.normpath(m.config) in quickstart:
            assert m.weights, f'{m.name}: quick-start entries are for published models'


def test_metafiles_are_openmmlab_shaped():
    with open(INDEX) as f:
        imports = yaml.safe_load(f)['Import']
    for path in imports:
        with open(osp.join(ROOT, path)) as f:
            meta = yaml.safe_load(f)
        collections = {c['Name'] for c in meta['Collections']}
        for c in meta['Collections']:
            assert c['Paper']['URL'].startswith('https://')
        for m in meta['Models']:
            assert m['In Collection'] in collections
            assert osp.basename(m['Config'])[:-3] == m['Name']


def test_metadata_counts_agree_with_the_summary(tmp_path):
    """Models whose metafile carries FLOPs/BOPs/Parameters: recount the smallest one with the
    summary tool, exactly as tools/misc/update_metafiles.py wrote them."""
    with_counts = [m for m in indexed().values() if 'BOPs' in (m.metadata or {})]
    assert with_counts, 'no model of the index has summary counts'
    model = min(with_counts, key=lambda m: m.metadata['Parameters'])
    out = tmp_path / 'summary.json'
    run(python_tool('analysis/summary.py', model.config, '--json', out))
    with open(out) as f:
        totals = json.load(f)['totals']
    for key, total in (('FLOPs', 'flops'), ('BOPs', 'bops'), ('Parameters', 'params')):
        assert model.metadata[key] == int(totals[total]), key
