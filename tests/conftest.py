import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'tests', 'data', 'configs')


@pytest.fixture(autouse=True)
def fresh_default_scope():
    """Each test starts with no mmengine default scope. A scope set by one test (through
    init_default_scope or a Runner) would otherwise decide which toolbox's registry the next
    test's plain type names resolve in."""
    from mmengine.registry import DefaultScope
    DefaultScope._instance_dict.clear()
    yield
    DefaultScope._instance_dict.clear()


def run(cmd, cwd=ROOT, env=None, timeout=600):
    """Run a command (a tool, as a user would), fail the test with its output if it fails."""
    full_env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(map(str, cmd))} exited {proc.returncode}\n'
                    f'--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


def python_tool(name, *args):
    return [sys.executable, osp.join(ROOT, 'tools', name), *map(str, args)]


@pytest.fixture(scope='session')
def tiny_cls_root(tmp_path_factory):
    """An ImageNet-style folder of 16 32x32 images in 2 classes (vertical / horizontal lines)."""
    from PIL import Image
    root = tmp_path_factory.mktemp('tiny_cls')
    rng = np.random.default_rng(0)
    for c in range(2):
        os.makedirs(root / f'class{c}')
        for i in range(8):
            img = (rng.random((32, 32, 3)) * 60).astype(np.uint8)
            if c == 0:
                img[:, ::4] = 255
            else:
                img[::4] = 255
            Image.fromarray(img).save(root / f'class{c}' / f'{i}.png')
    return str(root)


def data_root_options(root):
    """--cfg-options that point the tiny configs at a generated data root."""
    return ['--cfg-options'] + [f'{k}.dataset.data_root={root}' for k in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')]
