"""A project outside this repository inherits mmbnn configs after a non-editable install."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT

CONFIG = 'digits/groupnet-r18-w16-3b_1xb64_digits.py'


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """mmbnn installed as a wheel would be (not editable), into a folder of its own."""
    target = tmp_path_factory.mktemp('site')
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation', '-q',
         '--disable-pip-version-check', '--target', str(target), ROOT],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


@pytest.mark.slow
def test_configs_tools_and_index_are_shipped(site):
    mim = site / 'mmbnn' / '.mim'
    assert (mim / 'configs' / CONFIG).is_file() and not (mim / 'configs').is_symlink()
    assert (mim / 'tools' / 'train.py').is_file()
    assert (mim / 'model-index.yml').is_file()


@pytest.mark.slow
def test_downstream_config_inherits_mmbnn_config(site, tmp_path):
    project = tmp_path / 'my_project'
    project.mkdir()
    (project / 'scoped.py').write_text(
        f"_base_ = 'mmbnn::{CONFIG}'\nmodel = dict(head=dict(num_classes=7))\n")
    (project / 'by_path.py').write_text(
        f"_base_ = __import__('mmbnn').config_path({CONFIG!r})\n"
        "train_cfg = dict(max_epochs=1)\n")
    code = f"""
import mmbnn
from mmengine.config import Config
assert mmbnn.__file__.startswith({str(site)!r}), mmbnn.__file__
a = Config.fromfile('scoped.py')
assert a.model.backbone.type == 'mmbnn.GroupNetResNet' and a.model.head.num_classes == 7
assert a.model.backbone.num_bases == 3
b = Config.fromfile('by_path.py')
assert b.train_cfg.max_epochs == 1 and b.model.backbone.num_bases == 3
try:
    mmbnn.config_path('digits/groupnet-r18-w16-3b_1xb64_digit.py')
except FileNotFoundError as e:
    assert 'did you mean' in str(e), e
else:
    raise AssertionError('no error for a missing config')
print('ok')
"""
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, '-c', code], cwd=project, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith('ok')
