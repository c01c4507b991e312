"""The real zoo: every model the index publishes is in the shipped release folder with its hash,
and `tools/test.py CONFIG mmbnn://NAME` reproduces its recorded result, within the tolerance of
its metric (mmbnn.zoo.evaluate.METRICS), on its evaluation split, under two oneDNN settings:
AVX2 and the default where the CPU has AVX-512, else AVX2 and SSE4.1 (the param id names the
setting). The setting this process runs under is evaluated here; the other one in a background
process started with the first evaluation (one model after another, single-threaded, on the
second core), whose results the later tests read. The folder holds nothing else, stays under
30 MB and ships with `pip install .`; the README's zoo table is the generated one."""
import hashlib
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from mmbnn.zoo import MODEL_INDEX_ENV, RELEASE_DIR, ZOO_URL_ENV, load_model_index
from mmbnn.zoo.evaluate import evaluate, recorded_metrics, reproduces, split_name
from mmbnn.zoo.spread import (check_settings, current_setting, effective_setting,
                              finish_measure_process, start_measure_process)
from mmbnn.zoo.table import TABLE_BEGIN, TABLE_END, zoo_table

INDEX = osp.join(ROOT, 'model-index.yml')
PUBLISHED = [m for m in load_model_index(INDEX).values() if m.weights]
MAX_BYTES = 30 * 2**20


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_release_folder_matches_the_index():
    assert PUBLISHED, 'the model index lists no published weights'
    files = sorted(f for f in os.listdir(RELEASE_DIR) if f != 'README.md')
    assert files == sorted(m.weights for m in PUBLISHED), 'files without an entry, or entries '\
        'without their file'
    total = 0
    for m in PUBLISHED:
        assert re.fullmatch(re.escape(m.name) + r'_\d{8}-[0-9a-f]{8}\.pth', m.weights), m.weights
        path = osp.join(RELEASE_DIR, m.weights)
        assert sha256(path) == m.sha256, m.name
        assert m.results and recorded_metrics(m.results), f'{m.name} has no recorded result'
        total += os.path.getsize(path)
    assert total < MAX_BYTES


#: The oneDNN settings checked on this CPU; the one this process runs under is measured here.
SETTINGS = check_settings()
HERE = [s for s in SETTINGS if effective_setting(s) == effective_setting(current_setting())]
ELSEWHERE = [s for s in SETTINGS if s not in HERE]


def setting_id(setting):
    where = 'here' if setting in HERE else 'subprocess'
    return f'onednn-{setting}-{where}'


@pytest.fixture(scope='module')
def other_settings(tmp_path_factory):
    """The published models measured under the settings this process does not run under: one
    background process each, started now, read when first needed ({setting: rows})."""
    tmp = tmp_path_factory.mktemp('zoo_other_settings')
    started = {}
    for setting in ELSEWHERE:
        out = str(tmp / f'{setting}.json')
        env = {MODEL_INDEX_ENV: INDEX, ZOO_URL_ENV: '',  # '': the shipped release folder
               'TORCH_HOME': str(tmp / f'torch_{setting}')}
        started[setting] = (start_measure_process(setting, out, env=env), out)
    results = {}

    def rows(setting):
        if setting not in results:
            proc, out = started[setting]
            results[setting] = {r['name']: r for r in finish_measure_process(proc, out)}
        return results[setting]

    yield rows
    for proc, _ in started.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize('name', [m.name for m in PUBLISHED])
@pytest.mark.parametrize('setting', HERE + ELSEWHERE, ids=setting_id)  # HERE's first, overlapping
def test_published_model_reproduces(name, setting, other_settings, tmp_path, monkeypatch):
    """The shipped file, by name, through tools/test.py: the recorded metrics within their
    tolerance, on the split and number of images recorded."""
    info = next(m for m in PUBLISHED if m.name == name)
    if setting in ELSEWHERE:
        row = other_settings(setting)[name]
        assert row['setting'] == setting
        metrics, images = row['metrics'], row['images']
    else:
        monkeypatch.delenv(ZOO_URL_ENV, raising=False)  # the shipped release folder
        monkeypatch.setenv(MODEL_INDEX_ENV, INDEX)
        old = torch.hub.get_dir()
        torch.hub.set_dir(str(tmp_path / 'hub'))
        try:
            measured = evaluate(info.config, f'mmbnn://{name}',
                                dataset=info.results[0]['Dataset'],
                                work_dir=str(tmp_path / 'work'))
        finally:
            torch.hub.set_dir(old)
        metrics, images = measured.metrics, measured.images
    assert reproduces(recorded_metrics(info.results), metrics) == []
    for result in info.results:
        assert result['Split'] == split_name(info.config)
        assert result['Images'] == images


def test_release_folder_is_package_data(tmp_path):
    """`setup.py build_py` (what `pip install .` runs) ships the folder, its published files
    and the index."""
    proc = subprocess.run([sys.executable, 'setup.py', '-q', 'build_py', '--build-lib',
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shipped = tmp_path / 'mmbnn' / 'zoo' / 'weights'
    assert (shipped / 'README.md').is_file()
    assert (tmp_path / 'mmbnn' / '.mim' / 'model-index.yml').is_file()
    for m in PUBLISHED:
        assert sha256(shipped / m.weights) == m.sha256


def test_readme_zoo_table_is_generated():
    with open(osp.join(ROOT, 'docs', 'en', 'model_zoo.md'), encoding='utf-8') as f:
        text = f.read()
    assert TABLE_BEGIN in text and TABLE_END in text, 'docs/en/model_zoo.md has no zoo table block'
    start = text.index(TABLE_BEGIN) + len(TABLE_BEGIN)
    end = text.index(TABLE_END)
    assert text[start:end].strip() == zoo_table(INDEX), \
        'run python tools/misc/zoo.py table --readme docs/en/model_zoo.md'
