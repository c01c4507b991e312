"""``export_lce(model, 'model.tflite')``: describe the model here, build and convert it in LCE's
environment, and (optionally) run LCE's interpreter on given inputs."""
import json
import os
import os.path as osp
import re
import tempfile
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .describe import describe
from .env import run_json
from .graph import graph_prefix, save_graph

__all__ = ['export_lce', 'export_lce_many', 'load_model', 'KERAS_BUILDER']

#: The script run in the LCE environment (it imports no torch and no mmbnn).
KERAS_BUILDER = osp.join(osp.dirname(osp.abspath(__file__)), 'keras_builder.py')


def load_model(config, checkpoint: Optional[str] = None, cfg_options: Optional[dict] = None
               ) -> nn.Module:
    """The model of ``config`` (a path or ``Config``) with a checkpoint's weights (a file, URL,
    ``mmbnn://NAME``, or a packed checkpoint of ``tools/deploy/pack.py``), in eval mode; random
    weights without a checkpoint."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import CheckpointLoader

    import mmbnn.zoo  # noqa: F401  (the mmbnn:// scheme)
    from mmbnn.deploy import is_packed, load_packed
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmbnn'))
    model_cfg = cfg.to_dict()['model']
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner builds the model
        model_cfg.setdefault('data_preprocessor', cfg.to_dict()['data_preprocessor'])
    model = MODELS.build(model_cfg)
    if checkpoint is None:
        if hasattr(model, 'init_weights'):
            model.init_weights()
        return model.eval()
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    if is_packed(ckpt):
        load_packed(model, ckpt)
    else:
        state = ckpt.get('state_dict', ckpt)
        model.load_state_dict({re.sub(r'^module\.', '', k): v for k, v in state.items()},
                              strict=True)
    return model.eval()


def export_lce(model: nn.Module, out: str, input_shape: Sequence[int] = (1, 3, 224, 224),
               normalize: bool = True, inputs: Optional[torch.Tensor] = None,
               settings: Sequence[str] = ('default', ), num_threads: int = 1,
               groups: str = 'split', timeout: Optional[float] = None) -> dict:
    """Export ``model`` to an LCE ``.tflite`` (see :mod:`mmbnn.deploy.lce`).

    Writes the neutral graph next to ``out`` (``OUT.json`` + ``OUT.npz``, ``OUT`` being ``out``
    without ``.tflite``), then runs :mod:`.keras_builder` in the LCE environment, which rebuilds it
    with larq, converts it with Larq Compute Engine's converter (target arm) and writes ``out``.

    Args:
        model (nn.Module): The trained model.
        out (str): The ``.tflite`` to write.
        input_shape (Sequence[int]): ``(N, C, H, W)``; the ``.tflite`` takes ``(N, H, W, C)``.
            Default: ``(1, 3, 224, 224)``.
        normalize (bool): Include the data preprocessor's normalization
            (:func:`~.describe.describe`). Default: True.
        inputs (Tensor, optional): Images (M, C, H, W), as the graph takes them, to run through
            LCE's interpreter; the outputs are returned under ``'lce_outputs'``. Default: None.
        settings (Sequence[str]): Interpreter settings to run them with
            (:data:`~.keras_builder.INTERPRETER_SETTINGS`). Default: ``('default', )``.
        num_threads (int): Interpreter threads. Default: 1.
        groups (str): ``'split'`` (grouped bconvs as one bconv per group) or ``'native'``.
        timeout (float, optional): Seconds to allow the LCE side. Default: None.

    Returns:
        dict: ``graph`` (its summary), ``lce_bconv2d`` (``LceBconv2d`` ops in the file),
        ``binary_layers`` (our model's), ``ops`` (op counts), ``tflite_bytes``, ``graph_files``
        and, with ``inputs``, ``lce_outputs`` (setting -> ndarray (M, ...)).

    Raises:
        NotExportable: A layer LCE cannot express (nothing is written).
        LceEnvMissing: The LCE environment does not exist (the message says how to create it).
        RuntimeError: The LCE side failed (its log's tail).
    """
    item = dict(model=model, out=out, input_shape=input_shape, normalize=normalize,
                inputs=inputs)
    result = export_lce_many([item], settings, num_threads, groups, timeout, strict=True)[0]
    return result


def export_lce_many(items: Sequence[dict], settings: Sequence[str] = ('default', ),
                    num_threads: int = 1, groups: str = 'split',
                    timeout: Optional[float] = None, strict: bool = False) -> list:
    """:func:`export_lce` for several models in ONE process of the LCE environment (TensorFlow
    is imported once). ``items``: dicts of :func:`export_lce`'s ``model``, ``out``,
    ``input_shape``, ``normalize``, ``inputs``. Without ``strict`` a model that cannot be
    exported gets ``{'error': reason}`` instead of raising."""
    from .describe import NotExportable
    results, jobs = [None] * len(items), []
    with tempfile.TemporaryDirectory(prefix='mmbnn_lce_in_') as tmp:
        for i, item in enumerate(items):
            try:
                graph, arrays = describe(item['model'], item.get('input_shape', (1, 3, 224, 224)),
                                         normalize=item.get('normalize', True))
            except NotExportable as e:
                if strict:
                    raise
                results[i] = dict(error=str(e))
                continue
            out = item['out']
            os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
            files = save_graph(graph, arrays, graph_prefix(out))
            job = dict(prefix=graph_prefix(out), out=out)
            if item.get('inputs') is not None:
                job['inputs'] = osp.join(tmp, f'inputs{i}.npy')
                np.save(job['inputs'], item['inputs'].detach().cpu().float().numpy())
            results[i] = dict(graph=graph['summary'],
                              binary_layers=graph['summary']['model_binary_layers'],
                              graph_files=list(files))
            jobs.append((i, job))
        if jobs:
            path = osp.join(tmp, 'jobs.json')
            with open(path, 'w') as f:
                json.dump([job for _, job in jobs], f)
            args = ['--jobs', path, '--groups', groups, '--threads', str(num_threads),
                    '--settings', *settings]
            done = run_json(KERAS_BUILDER, args, timeout=timeout)['jobs']
            for (i, _), res in zip(jobs, done):
                if 'error' in res:
                    if strict:
                        raise NotExportable(res['error'])
                    results[i] = dict(error=res['error'])
                    continue
                if 'outputs' in res:
                    with np.load(res['outputs']) as z:
                        res['lce_outputs'] = {k: z[k] for k in z.files}
                    os.remove(res.pop('outputs'))
                results[i].update(res)
    return results
