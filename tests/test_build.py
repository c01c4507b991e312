"""The package as a user installs it: the wheel's contents, a build with the x86 code compiled
out (what aarch64 and other architectures build) that runs the ops, and an install without the
compiled extension at all, where every mmbnn.ops function runs its pure-PyTorch implementation
with one warning and the same results."""
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest
import torch

from conftest import ROOT
from mmbnn.ops import binary_conv2d, pack_activations, pack_weights

PROBE = r'''
import json, sys, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import torch, mmbnn
    from mmbnn.ops import available_isas, binary_conv2d, pack_activations, pack_weights
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 70, 6, 5, generator=g)
    w = torch.where(torch.randn(10, 35, 3, 3, generator=g) >= 0, 1.0, -1.0)
    y = binary_conv2d(pack_activations(x, groups=2), pack_weights(w), 35, 3, 1, 1, 1, 2,
                      pad_value=0.0, scale=torch.linspace(-1, 1, 10), relu=True)
print(json.dumps(dict(file=mmbnn.__file__, isas=available_isas(), y=y.flatten().tolist(),
                      warnings=[str(w.message) for w in caught if "mmbnn.ops" in str(w.message)])))
'''


def reference_output():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 70, 6, 5, generator=g)
    w = torch.where(torch.randn(10, 35, 3, 3, generator=g) >= 0, 1.0, -1.0)
    return binary_conv2d(pack_activations(x, groups=2), pack_weights(w), 35, 3, 1, 1, 1, 2,
                         pad_value=0.0, scale=torch.linspace(-1, 1, 10), relu=True)


def run_probe(env=None, prelude=''):
    import json
    proc = subprocess.run([sys.executable, '-c', prelude + PROBE], capture_output=True,
                          text=True, env=env, timeout=300, cwd='/')
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_without_the_extension_every_op_runs_in_pytorch_with_one_warning():
    """As on a platform where the C++ extension could not be built: mmbnn imports, warns once
    naming what is slow, and the ops give the compiled kernels' results bit for bit."""
    out = run_probe(prelude='import sys; sys.modules["mmbnn.ops._C"] = None\n')
    assert out['isas'] == ['torch']
    assert len(out['warnings']) == 1 and 'pure-PyTorch' in out['warnings'][0]
    assert 'binary_conv2d' in out['warnings'][0]
    assert out['y'] == reference_output().flatten().tolist()


@pytest.mark.slow
def test_wheel_contents_and_a_build_without_x86_code(tmp_path):
    """``pip wheel --no-build-isolation`` with MMBNN_PORTABLE=1: the wheel holds the package,
    its configs, tools and model index (mim), the release weights and the kernel sources; its
    extension has only the portable kernels and gives the same results."""
    env = dict(os.environ, MMBNN_PORTABLE='1')
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-build-isolation',
                           '--no-deps', '-q', '-w', str(tmp_path), ROOT],
                          capture_output=True, text=True, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    wheels = [f for f in os.listdir(tmp_path) if f.endswith('.whl')]
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(tmp_path / wheels[0]) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / 'site')
    expected = ['mmbnn/__init__.py', 'mmbnn/.mim/model-index.yml',
                'mmbnn/.mim/configs/fcos_groupnet.py', 'mmbnn/.mim/tools/train.py',
                'mmbnn/.mim/tools/test.py', 'mmbnn/zoo/weights/README.md',
                'mmbnn/ops/csrc/ops.cpp', 'mmbnn/ops/csrc/core/bitpack.h']
    for name in expected:
        assert name in names, name
    assert any(n.startswith('mmbnn/zoo/weights/') and n.endswith('.pth') for n in names)
    assert any(n.startswith('mmbnn/ops/_C') and n.endswith('.so') for n in names)
    assert not any('/tests/' in n or n.startswith('tests/') for n in names)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / 'site'))
    out = run_probe(env=env)
    assert osp.dirname(osp.dirname(out['file'])) == str(tmp_path / 'site')
    assert out['isas'] == ['generic', 'torch'] and not out['warnings']
    assert out['y'] == reference_output().flatten().tolist()
