"""Reproduction across CPUs: measure the published models under oneDNN instruction-set caps and
thread counts, and compare with the recorded results.

On x86 torch runs its float convolutions through oneDNN, which picks its kernels by the CPU's
instruction set (SSE4.1, AVX, AVX2, AVX-512) and splits sums by the number of threads; the
float layers then round differently, and a binary network, whose next layer takes the sign of
those floats, turns a last-bit difference into a flipped sign and sometimes a different
prediction. ``ONEDNN_MAX_CPU_ISA`` (:data:`ISA_ENV`) caps the instruction set; oneDNN reads it
once, when it first runs, so every setting is measured in its own process
(:func:`start_measure_process`, ``tools/misc/zoo.py measure``).

``python tools/misc/zoo.py spread`` measures every published model under each setting and thread
count and prints the differences to the recorded results; the tolerance that
``tools/misc/zoo.py verify``, publishing and ``tests/test_zoo_release.py`` accept
(:data:`mmbnn.zoo.evaluate.METRICS`, ``MetricSpec.tolerance``) was chosen from those
measurements. :func:`check_settings` names the two settings the zoo test checks on this CPU.
"""
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence

from mmbnn.utils import package_root
from .evaluate import METRICS, evaluate, recorded_metrics
from .index import load_model_index

__all__ = ['ISA_ENV', 'DEFAULT', 'NO_ONEDNN', 'is_x86', 'cpu_has_avx512', 'current_setting',
           'effective_setting', 'check_settings', 'measure_models', 'start_measure_process',
           'finish_measure_process', 'spread_rows', 'largest_differences']

#: oneDNN's cap on the instruction set it uses (SSE41, AVX, AVX2, AVX512_CORE, ...).
ISA_ENV = 'ONEDNN_MAX_CPU_ISA'
#: The setting name for "no cap": oneDNN's choice for the CPU.
DEFAULT = 'default'
#: The setting name for float convolutions through ATen's own kernels instead of oneDNN.
NO_ONEDNN = 'no-onednn'


def is_x86() -> bool:
    """Whether this is an x86 CPU (the only one whose oneDNN kernels the cap selects)."""
    return platform.machine().lower() in ('x86_64', 'amd64', 'i386', 'i686', 'x86')


def cpu_has_avx512() -> bool:
    """Whether the CPU has AVX-512 (torch's own check, which oneDNN's default follows)."""
    import torch
    return is_x86() and bool(torch.cpu._is_avx512_supported())


def current_setting() -> str:
    """This process's oneDNN setting: ``$ONEDNN_MAX_CPU_ISA`` upper-cased, or :data:`DEFAULT`."""
    value = os.environ.get(ISA_ENV, '').strip()
    return value.upper() if value else DEFAULT


def effective_setting(setting: str) -> str:
    """``setting`` with the no-cap spellings (``default``, ``ALL``) taken as what they mean on
    this CPU: ``'AVX2'`` where the CPU has AVX2 but no AVX-512 (oneDNN's best there), else
    :data:`DEFAULT`."""
    import torch
    setting = (setting or DEFAULT).upper()
    if setting in (DEFAULT.upper(), 'ALL'):
        if is_x86() and not cpu_has_avx512() and torch.cpu._is_avx2_supported():
            return 'AVX2'
        return DEFAULT
    return setting


def check_settings() -> List[str]:
    """The two oneDNN settings the zoo test checks on this CPU: ``['default', 'AVX2']`` where it
    has AVX-512 (oneDNN's default there uses it), ``['AVX2', 'SSE41']`` on an AVX2 CPU without
    it, ``['default']`` off x86 (no cap applies)."""
    if not is_x86():
        return [DEFAULT]
    return [DEFAULT, 'AVX2'] if cpu_has_avx512() else ['AVX2', 'SSE41']


def _published(names: Optional[Iterable[str]], index: Optional[str]):
    models = [m for m in load_model_index(index).values() if m.weights]
    if names:
        names = list(names)
        unknown = sorted(set(names) - {m.name for m in models})
        if unknown:
            raise KeyError(f'not published: {unknown}')
        models = [m for m in models if m.name in names]
    return models


def measure_models(names: Optional[Iterable[str]] = None, threads: Sequence[int] = (1, ),
                   index: Optional[str] = None, work_dir: Optional[str] = None,
                   setting: Optional[str] = None, onednn: bool = True,
                   log=print) -> List[dict]:
    """Evaluate published models in this process, as ``tools/misc/zoo.py verify`` does, once per
    thread count.

    Args:
        names (Iterable[str], optional): Models (default: every published one).
        threads (Sequence[int]): torch CPU thread counts. Default: (1, ).
        index (str, optional): The model index. Default: mmbnn's.
        work_dir (str, optional): Folder for the prepared evaluation data and the runs' files,
            one sub-folder per data set. Default: a temporary folder.
        setting (str, optional): The rows' ``setting``. Default: :func:`current_setting`.
        onednn (bool): Let torch use oneDNN (mkldnn) for its float convolutions; False runs
            them through ATen's own kernels (another order of every sum). Default: True.
        log (callable): Where one line per evaluation goes. Default: ``print``.

    Returns:
        list[dict]: One per model and thread count: ``name``, ``setting``, ``threads``,
        ``metrics`` (the evaluator's values), ``recorded`` (the metafile's), ``images``.
    """
    import torch
    setting = setting or current_setting()
    rows = []
    with tempfile.TemporaryDirectory(prefix='mmbnn_measure_') as tmp, \
            torch.backends.mkldnn.flags(enabled=onednn):
        root = work_dir or tmp
        for info in _published(names, index):
            dataset = (info.results or [{}])[0].get('Dataset')
            folder = osp.join(root, ''.join(c if c.isalnum() else '_' for c in dataset or 'x'))
            for n in threads:
                measured = evaluate(info.config, f'mmbnn://{info.name}', dataset=dataset,
                                    work_dir=folder, threads=n)
                rows.append(dict(name=info.name, setting=setting, threads=n,
                                 metrics=measured.metrics, images=measured.images,
                                 recorded=recorded_metrics(info.results)))
                log(f'{info.name} [{setting}, {n} thread(s)]: ' + ', '.join(
                    f'{k} {METRICS[k].record(v):g}' for k, v in measured.metrics.items()
                    if k in METRICS))
    return rows


def start_measure_process(setting: str, out_json: str, names: Optional[Sequence[str]] = None,
                          threads: Sequence[int] = (1, ), env: Optional[Dict[str, str]] = None,
                          log_file=None) -> subprocess.Popen:
    """Start ``tools/misc/zoo.py measure`` in a new process under ``setting``, writing its rows
    to ``out_json``.

    Args:
        setting (str): A oneDNN cap (``'AVX2'``, ``'SSE41'``..., :data:`DEFAULT` for none), an
            environment variable (``'ATEN_CPU_CAPABILITY=default'``: torch's own kernels without
            SIMD) or :data:`NO_ONEDNN` (float convolutions through ATen, not oneDNN).
        out_json (str): Where the process writes :func:`measure_models`' rows.
        names (Sequence[str], optional): Models. Default: every published one.
        threads (Sequence[int]): Thread counts. Default: (1, ).
        env (dict, optional): More environment variables (``MMBNN_MODEL_INDEX``,
            ``TORCH_HOME``...). Default: None.
        log_file (file, optional): Where its output goes. Default: a pipe.
    """
    full_env = dict(os.environ, **(env or {}))
    full_env.pop(ISA_ENV, None)
    extra = ['--setting', setting]
    if setting == NO_ONEDNN:
        extra.append('--no-onednn')
    elif '=' in setting:
        key, value = setting.split('=', 1)
        full_env[key] = value
    elif setting.upper() != DEFAULT.upper():
        full_env[ISA_ENV] = setting
    cmd = [sys.executable, osp.join(package_root(), 'tools', 'misc', 'zoo.py'), 'measure',
           *(names or []), '--json', out_json, '--threads', *map(str, threads), *extra]
    out = log_file if log_file is not None else subprocess.PIPE
    return subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT, text=True)


def finish_measure_process(proc: subprocess.Popen, out_json: str,
                           timeout: Optional[float] = None) -> List[dict]:
    """Wait for a :func:`start_measure_process` process and return its rows.

    Raises:
        RuntimeError: It failed (its output's tail in the message).
        subprocess.TimeoutExpired: It ran past ``timeout`` (it is killed first).
    """
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0 or not osp.isfile(out_json):
        raise RuntimeError(f'{" ".join(proc.args)} exited {proc.returncode}:\n'
                           f'{(output or "")[-4000:]}')
    with open(out_json) as f:
        return json.load(f)['rows']


def spread_rows(rows: Sequence[dict]) -> List[dict]:
    """One row per measurement and recorded metric: ``name``, ``setting``, ``threads``,
    ``metric`` (evaluator key), ``recorded``, ``measured`` (rounded as recorded) and
    ``difference`` (measured, in recorded units, minus recorded; None if not measured)."""
    out = []
    for r in rows:
        for key, recorded in r['recorded'].items():
            spec = METRICS[key]
            value = r['metrics'].get(key)
            measured = None if value is None else spec.record(value)
            out.append(dict(name=r['name'], setting=r['setting'], threads=r['threads'],
                            metric=key, recorded=recorded, measured=measured,
                            difference=None if measured is None else
                            round(measured - recorded, spec.decimals)))
    return out


def largest_differences(rows: Sequence[dict]) -> Dict[str, dict]:
    """The row of the largest ``|difference|`` of each metric in :func:`spread_rows`' rows."""
    worst: Dict[str, dict] = {}
    for r in rows:
        if r['difference'] is None:
            continue
        if r['metric'] not in worst or abs(r['difference']) > abs(
                worst[r['metric']]['difference']):
            worst[r['metric']] = r
    return worst
