"""Publishing end to end: a tiny Group-Net (K=3, XNOR-type scales) trained on the digits for one
iteration by the experiment harness, published from its result JSON into a temporary index and
release folder, then loaded by name through `tools/test.py CONFIG mmbnn://NAME`, which must give
the very accuracy the harness measured on the trained model (an independent reference: the
float checkpoint in the training process). Also: refusals leave nothing written; the batch
script re-publishes; `tools/misc/zoo.py` lists, shows, fetches and tabulates."""
import hashlib
import importlib.util
import json
import os
import os.path as osp
import re

import pytest
import torch
import yaml

from conftest import ROOT
from mmbnn.analysis.experiment import Experiment, Row
from mmbnn.zoo import MODEL_INDEX_ENV, SHA256_KEY, ZOO_URL_ENV
from mmbnn.zoo.evaluate import METRICS
from mmbnn.zoo.publish import PublishError, _check_run, publish_model

NAME = 'groupnet-r18-w16-3b_1xb64_digits'
SOURCE = osp.join(ROOT, 'configs', 'digits', f'{NAME}.py')
NEIGHBOUR = 'groupnet-r18-w16-1b_1xb64_digits'  # in the temporary index, with its collection


def tool(name):
    path = osp.join(ROOT, 'tools', 'misc', name)
    spec = importlib.util.spec_from_file_location(f'_test_{name[:-3]}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_root(root):
    """A repository-like root: model-index.yml, one metafile listing NEIGHBOUR (not NAME), the
    config of NAME (inheriting mmbnn's) under configs/digits/."""
    os.makedirs(root / 'configs' / 'digits')
    (root / 'configs' / 'digits' / f'{NAME}.py').write_text(f'_base_ = {SOURCE!r}\n')
    with open(osp.join(ROOT, 'configs', 'digits', 'metafile.yml')) as f:
        real = yaml.safe_load(f)
    entry = next(m for m in real['Models'] if m['Name'] == NEIGHBOUR)
    collection = next(c for c in real['Collections'] if c['Name'] == entry['In Collection'])
    with open(root / 'configs' / 'digits' / 'metafile.yml', 'w') as f:
        yaml.safe_dump(dict(Collections=[collection], Models=[entry]), f, sort_keys=False)
    with open(root / 'model-index.yml', 'w') as f:
        yaml.safe_dump(dict(Import=['configs/digits/metafile.yml']), f)
    return str(root / 'model-index.yml')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One training iteration (64 samples, seed 0) by the experiment harness: the run (with
    its in-process test accuracy) and its JSON."""
    root = tmp_path_factory.mktemp('zoo_root')
    index = make_root(root)
    config = str(root / 'configs' / 'digits' / f'{NAME}.py')
    experiment = Experiment(title='digits', rows=[Row('gn3', config, 'Group-Net K=3')],
                            metric='accuracy/top1')
    runs = experiment.run(seeds=[0], work_dir=str(root / 'work'), epochs=1, subset=64,
                          threads=1, log=lambda *_: None)
    results = root / 'results.json'
    with open(results, 'w') as f:
        json.dump(experiment.results(runs), f)
    return dict(root=root, index=index, config=config, run=runs[0], json=str(results),
                release=str(root / 'release'))


@pytest.fixture(scope='module')
def published(trained):
    return publish_model(trained['config'], trained['run']['checkpoint'],
                         index=trained['index'], release_dir=trained['release'],
                         results_json=trained['json'], dataset='scikit-learn digits',
                         date='20240102', log=lambda *_: None)


@pytest.fixture
def zoo_env(trained, monkeypatch, tmp_path):
    monkeypatch.setenv(MODEL_INDEX_ENV, trained['index'])
    monkeypatch.setenv(ZOO_URL_ENV, trained['release'])
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield tmp_path / 'hub' / 'checkpoints'
    torch.hub.set_dir(old)


def read_entry(metafile, name=NAME):
    with open(metafile) as f:
        data = yaml.safe_load(f)
    return data, next(m for m in data['Models'] if m['Name'] == name)


def test_published_file_and_entry(trained, published):
    run = trained['run']
    assert re.fullmatch(rf'{NAME}_20240102-[0-9a-f]{{8}}\.pth', published.filename)
    data = open(published.path, 'rb').read()
    assert hashlib.sha256(data).hexdigest() == published.sha256
    assert published.filename.endswith(f'-{published.sha256[:8]}.pth')
    assert os.listdir(trained['release']) == [published.filename]
    ckpt = torch.load(published.path, weights_only=True)
    assert set(ckpt) == {'meta', 'state_dict', 'packed_weights'}  # no optimizer, message hub
    assert len(ckpt['packed_weights']) > 10
    assert ckpt['meta']['zoo']['name'] == NAME
    assert published.size < 0.5 * os.path.getsize(run['checkpoint'])

    assert published.created_entry
    index = yaml.safe_load(open(trained['index']))
    assert index['Import'] == ['configs/digits/metafile.yml']
    data, entry = read_entry(published.metafile)
    assert entry['Config'] == f'configs/digits/{NAME}.py'
    assert entry['In Collection'] == 'Group-Net'  # the closest name's collection
    assert entry['Weights'] == published.filename
    assert entry['Metadata'][SHA256_KEY] == published.sha256
    assert entry['Metadata']['Training Data'] == 'scikit-learn digits'
    real = read_entry(osp.join(ROOT, 'configs', 'digits', 'metafile.yml'))[1]
    for key in ('FLOPs', 'BOPs', 'OPs', 'Parameters'):  # the summary's counts
        assert entry['Metadata'][key] == real['Metadata'][key]
    assert entry['Results'] == [dict(
        Task='Image Classification', Dataset='scikit-learn digits', Split='test',
        Images=run['eval_samples'],
        Metrics={'Top 1 Accuracy': round(run['value'], 2)})]
    assert [c['Name'] for c in data['Collections']] == ['Group-Net']


def test_tools_test_by_name_gives_the_trained_accuracy(trained, published, zoo_env, tmp_path):
    torch.set_num_threads(1)
    test = tool('../test.py')
    metrics = test.main([trained['config'], f'mmbnn://{NAME}', '--work-dir', str(tmp_path)])
    assert float(metrics['accuracy/top1']) == trained['run']['value']  # bit for bit
    assert os.listdir(zoo_env) == [published.filename]


def test_run_options_are_checked_against_the_config():
    """A run is publishable under a config when its config plus its cfg_options build the
    same model; options that change the evaluation are noted (the result is then measured on
    the config's own split)."""
    five = osp.join(ROOT, 'configs', 'digits', 'groupnet-r18-w16-5b_1xb64_digits.py')
    run = dict(key='gn', seed=0, epochs=1, train_samples=64, eval_split='test', config=five,
               cfg_options={'model.backbone.num_bases': 3})
    assert _check_run(run, SOURCE)[0] is False  # K=3 through options = the K=3 config
    with pytest.raises(PublishError, match=r"differs .*'model.backbone.num_bases'"):
        _check_run(dict(run, cfg_options={}), SOURCE)
    eval_differs, notes = _check_run(
        dict(run, cfg_options={'model.backbone.num_bases': 3,
                               'test_dataloader.dataset.split': 'train'}), SOURCE)
    assert eval_differs and 'test_dataloader.dataset.split' in notes[0]
    assert _check_run(dict(run, config=SOURCE, cfg_options={'train_cfg.max_epochs': 3}),
                      SOURCE)[0] is False  # training-only options do not matter


def test_model_changing_run_is_refused(trained, published, tmp_path):
    doc = json.load(open(trained['json']))
    doc['runs'][0]['cfg_options'] = {'model.backbone.num_bases': 1}
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(doc))
    before = open(published.metafile).read()
    with pytest.raises(PublishError, match='its model differs'):
        publish_model(trained['config'], trained['run']['checkpoint'], index=trained['index'],
                      release_dir=trained['release'], results_json=str(bad), date='20240109')
    assert os.listdir(trained['release']) == [published.filename]
    assert open(published.metafile).read() == before


def test_result_that_does_not_reproduce_is_refused(trained, published, tmp_path):
    doc = json.load(open(trained['json']))
    doc['runs'][0]['metrics']['accuracy/top1'] += METRICS['accuracy/top1'].tolerance + 1.0
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(doc))
    before = open(published.metafile).read()
    with pytest.raises(PublishError, match='does not reproduce'):
        publish_model(trained['config'], trained['run']['checkpoint'], index=trained['index'],
                      release_dir=trained['release'], results_json=str(bad), date='20240109',
                      log=lambda *_: None)
    assert os.listdir(trained['release']) == [published.filename]
    assert open(published.metafile).read() == before


def test_zoo_tool(trained, published, zoo_env, tmp_path, capsys):
    zoo = tool('zoo.py')
    zoo.main(['list'])
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith(NAME))
    assert 'Image Classification' in line and 'scikit-learn digits' in line
    assert f'Top 1 Accuracy {round(trained["run"]["value"], 2):g}' in line
    assert f'{published.size / 1024:.1f} kB' in line
    zoo.main(['info', NAME])
    out = capsys.readouterr().out
    assert published.sha256 in out and f'mmbnn://{NAME}' in out
    dest = tmp_path / 'dest'
    zoo.main(['download', NAME, '--dest', str(dest)])
    assert sorted(os.listdir(dest)) == sorted([published.filename, f'{NAME}.py'])
    assert open(dest / published.filename, 'rb').read() == open(published.path, 'rb').read()
    zoo.main(['table'])
    out = capsys.readouterr().out
    assert f'| [{NAME}](configs/digits/{NAME}.py) | Image Classification |' in out
    readme = tmp_path / 'README.md'
    from mmbnn.zoo.table import TABLE_BEGIN, TABLE_END
    readme.write_text(f'# x\n{TABLE_BEGIN}\nold\n{TABLE_END}\nend\n')
    with pytest.raises(SystemExit, match='out of date'):
        zoo.main(['table', '--readme', str(readme), '--check'])
    zoo.main(['table', '--readme', str(readme)])
    zoo.main(['table', '--readme', str(readme), '--check'])
    assert NAME in readme.read_text() and 'old' not in readme.read_text()
    capsys.readouterr()
    zoo.main(['verify', NAME])
    assert f'{NAME}: ok' in capsys.readouterr().out


def test_publish_zoo_republishes_from_a_declaration(trained, published, tmp_path, capsys):
    """Last: it replaces the published file in place."""
    decl = tmp_path / 'zoo.yml'
    decl.write_text(yaml.safe_dump([dict(experiment=trained['json'], seed=0)]))
    args = [str(decl), '--index', trained['index'], '--release-dir', trained['release'],
            '--date', '20240103']
    dry = tmp_path / 'dry.yml'
    dry.write_text(yaml.safe_dump([dict(experiment=trained['json']), dict(
        config=trained['config'], checkpoint=trained['run']['checkpoint'],
        dataset='scikit-learn digits')]))
    tool('publish_zoo.py').main([str(dry), '--dry-run'])
    out = capsys.readouterr().out
    assert out.count(f'{NAME}: {trained["config"]} <- {trained["run"]["checkpoint"]}') == 2
    assert 'checked 2 of 2 models' in out
    tool('publish_zoo.py').main(args)
    assert 'published 1 of 1 models' in capsys.readouterr().out
    files = os.listdir(trained['release'])
    assert len(files) == 1 and files[0].startswith(f'{NAME}_20240103-')  # replaced
    entry = read_entry(published.metafile)[1]
    assert entry['Weights'] == files[0]
    assert entry['Results'][0]['Metrics'] == {
        'Top 1 Accuracy': round(trained['run']['value'], 2)}
