"""The separate Python environment in which Larq Compute Engine (LCE) runs.

LCE needs TensorFlow, which never enters mmbnn's own environment, its CI or its test suite. Its
tools run in a second virtual environment, ``.venv-lce/`` in the repository root, created on
request by ``python tools/deploy/lce_env.py --setup`` with Python 3.11 and the pins in
:data:`LCE_PINS`; every process started there gets ``TF_USE_LEGACY_KERAS=1`` (larq needs Keras 2,
i.e. ``tf_keras``). mmbnn talks to it through files and JSON: :func:`run_json` runs a script with
that environment's python and returns the JSON object the script emits with
:func:`emit_json`-style output (the file named by ``$MMBNN_LCE_JSON``).

The scripts run there import only TensorFlow, larq and NumPy, never torch or mmbnn.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional, Sequence

__all__ = ['LCE_PINS', 'LCE_ENV_VARS', 'LceEnvMissing', 'lce_venv_dir', 'lce_python',
           'require_lce_python', 'lce_environ', 'setup_lce_env', 'run_json', 'SETUP_COMMAND']

#: The exact pins of the LCE environment (they install with Python 3.11 on x86-64 Linux).
LCE_PINS = ('larq-compute-engine==0.16.0', 'tensorflow-cpu==2.16.2', 'tf_keras==2.16.0',
            'larq==0.14.0', 'larq-zoo==2.4.0', 'numpy==1.26.4')

#: Variables set in the environment of everything run with the LCE python.
LCE_ENV_VARS = {'TF_USE_LEGACY_KERAS': '1', 'TF_CPP_MIN_LOG_LEVEL': '2',
                'CUDA_VISIBLE_DEVICES': ''}

#: How a user creates the environment.
SETUP_COMMAND = 'python tools/deploy/lce_env.py --setup'

#: The variable naming the file a script run by :func:`run_json` writes its JSON result to.
JSON_OUT_VAR = 'MMBNN_LCE_JSON'


class LceEnvMissing(RuntimeError):
    """The LCE virtual environment does not exist (the message says how to create it)."""


def _repo_root() -> Path:
    # mmbnn/deploy/lce/env.py -> the checkout (mmbnn is installed editable from it)
    return Path(__file__).resolve().parents[3]


def lce_venv_dir() -> Path:
    """The LCE environment's directory: ``$MMBNN_LCE_VENV`` or ``<repo>/.venv-lce``."""
    return Path(os.environ.get('MMBNN_LCE_VENV') or _repo_root() / '.venv-lce')


def lce_python() -> Optional[Path]:
    """The LCE environment's python, or None while the environment does not exist."""
    py = lce_venv_dir() / 'bin' / 'python'
    return py if py.exists() else None


def require_lce_python() -> Path:
    """The LCE environment's python; raises :class:`LceEnvMissing` saying how to create it."""
    py = lce_python()
    if py is None:
        raise LceEnvMissing(
            f'The Larq Compute Engine environment {lce_venv_dir()} does not exist. Create it '
            f'once with `{SETUP_COMMAND}` (Python 3.11; downloads about 600 MB: '
            f'{" ".join(LCE_PINS)}). It stays outside mmbnn\'s own environment.')
    return py


def lce_environ(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The process environment for the LCE python: this one, minus the project venv's and
    ``PYTHONPATH``'s influence, plus :data:`LCE_ENV_VARS` (``TF_USE_LEGACY_KERAS=1``)."""
    env = dict(os.environ)
    for key in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV'):
        env.pop(key, None)
    env['VIRTUAL_ENV'] = str(lce_venv_dir())
    env['PATH'] = f'{lce_venv_dir() / "bin"}{os.pathsep}{env.get("PATH", "")}'
    env.update(LCE_ENV_VARS)
    env.update(extra or {})
    return env


def _find_python311(python: Optional[str]) -> str:
    if python:
        return python
    if sys.version_info[:2] == (3, 11):
        # inside mmbnn's venv: build from its base interpreter, not from the venv
        return getattr(sys, '_base_executable', sys.executable)
    found = shutil.which('python3.11')
    if found is None:
        raise LceEnvMissing('Python 3.11 is needed for the LCE environment (the pinned '
                            'TensorFlow 2.16 wheels); none was found: pass --python PATH.')
    return found


def setup_lce_env(python: Optional[str] = None, force: bool = False,
                  pip_args: Sequence[str] = ()) -> Path:
    """Create the LCE environment (``python -m venv`` + ``pip install`` :data:`LCE_PINS`) and
    check it imports; returns its python. Does nothing but the check when it already exists,
    unless ``force``."""
    venv = lce_venv_dir()
    if force and venv.exists():
        shutil.rmtree(venv)
    if lce_python() is None:
        base = _find_python311(python)
        subprocess.run([base, '-m', 'venv', str(venv)], check=True)
        py = require_lce_python()
        ver = subprocess.run([str(py), '-c', 'import sys; print(sys.version_info[:2] == (3, 11))'],
                             capture_output=True, text=True, check=True).stdout.strip()
        if ver != 'True':
            shutil.rmtree(venv)
            raise LceEnvMissing(f'{base} is not Python 3.11; pass --python PATH to a 3.11.')
        subprocess.run([str(py), '-m', 'pip', 'install', '--upgrade', 'pip'], check=True,
                       env=lce_environ())
        subprocess.run([str(py), '-m', 'pip', 'install', *LCE_PINS, *pip_args], check=True,
                       env=lce_environ())
    py = require_lce_python()
    subprocess.run([str(py), '-c', 'import larq_compute_engine, larq, larq_zoo, tensorflow as tf;'
                    'print("LCE", larq_compute_engine.__version__, "TF", tf.__version__)'],
                   check=True, env=lce_environ())
    return py


def run_json(script, args: Sequence[str] = (), timeout: Optional[float] = None,
             extra_env: Optional[Dict[str, str]] = None, quiet: bool = True) -> dict:
    """Run ``script`` with the LCE python and return the JSON object it wrote to the file named
    by ``$MMBNN_LCE_JSON``. The script's stderr (TensorFlow's log) is shown only on failure
    when ``quiet``; a failure raises ``RuntimeError`` with its tail."""
    py = require_lce_python()
    with tempfile.TemporaryDirectory(prefix='mmbnn_lce_') as tmp:
        out = Path(tmp) / 'result.json'
        env = lce_environ({JSON_OUT_VAR: str(out), **(extra_env or {})})
        proc = subprocess.run([str(py), str(script), *map(str, args)], env=env,
                              timeout=timeout, text=True,
                              capture_output=quiet)
        if proc.returncode != 0 or not out.exists():
            tail = ((proc.stdout or '') + (proc.stderr or ''))[-4000:] if quiet else ''
            raise RuntimeError(f'{script} failed in the LCE environment (exit '
                               f'{proc.returncode}):\n{tail}')
        return json.loads(out.read_text())
