"""The neutral description of a model for Larq Compute Engine: a JSON layer graph and its arrays.

:func:`~mmbnn.deploy.lce.describe` writes it from an mmbnn model; the LCE side
(:mod:`mmbnn.deploy.lce.keras_builder`, run in the LCE environment with TensorFlow and larq)
rebuilds it as a Keras model; :func:`~mmbnn.deploy.lce.run_graph` computes it in torch. Nothing
in it is specific to either framework: tensors are NCHW, weights in torch's layout
(``O, I / groups, kh, kw``), and every node names the module it comes from.

A graph is a dict::

    {"format": "mmbnn-lce-graph", "version": 1,
     "input": {"name": "input", "shape": [N, C, H, W]},
     "outputs": ["<node name>", ...],
     "nodes": [{"name", "op", "inputs": [...], "attrs": {...}, "source": "<module path>",
                "shape": [C, H, W] or [C]}, ...],
     "summary": {...}}

and its arrays are ``{"<node name>/<key>": ndarray}`` (an ``.npz`` file). The ops and what they
compute (``x`` the first input, all per channel ``c`` where an array has one value per channel):

- ``normalize``: ``(x[flip] - mean) / std`` (``flip_channels``: reverse the channel order first).
- ``conv2d``: a float conv, arrays ``weight`` (``bias``); attrs ``stride``, ``padding``,
  ``dilation``, ``groups`` (pairs are ``[h, w]``).
- ``bconv2d``: a binary conv, ``conv(pad(sign(x - threshold), pad_value), signs) * scale + bias``
  with ``sign(0) = +1`` (LCE's convention too); arrays ``signs`` (int8 in {-1, +1}), ``scale``
  (one per output channel), ``threshold`` (per input channel, absent for 0), ``bias`` (absent
  for 0); attrs as ``conv2d`` plus ``pad_value`` (0 or 1), ``act_binarizer`` and
  ``weight_binarizer`` (the mmbnn class names) and ``bases`` (K when the groups hold K bases).
- ``batchnorm``: ``(x - mean) / sqrt(var + eps) * weight + bias``.
- ``relu``; ``prelu``: ``max(x, 0) + slope * min(x, 0)``; ``bias_add``: ``x + bias``.
- ``add``: the sum of two inputs of the same shape.
- ``tile``: the channels repeated ``times`` times (base-major: ``[x, x, ..., x]``).
- ``slice``: channels ``start`` to ``stop``; ``concat``: its inputs along the channels.
- ``aggregate``: ``sum_k scales[k] * x[k C:(k + 1) C]`` over ``bases`` = K slices.
- ``gate_mix``: inputs ``(x, own)`` with C and K C channels: base k gets
  ``gate[k] * own_k + (1 - gate[k]) * x`` (``gate`` already through the sigmoid).
- ``maxpool2d`` (``kernel``, ``stride``, ``padding``, ``dilation``, ``ceil_mode``),
  ``avgpool2d`` (``kernel``, ``stride``, ``padding``, ``ceil_mode``, ``count_include_pad``),
  ``global_avgpool`` (NCHW -> NC).
- ``linear``: ``x @ weight.T + bias`` on (N, C).
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = ['GRAPH_FORMAT', 'GRAPH_VERSION', 'OPS', 'Graph', 'save_graph', 'load_graph']

GRAPH_FORMAT = 'mmbnn-lce-graph'
GRAPH_VERSION = 1

#: op -> number of inputs (None: one or more).
OPS = {'normalize': 1, 'conv2d': 1, 'bconv2d': 1, 'batchnorm': 1, 'relu': 1, 'prelu': 1,
       'bias_add': 1, 'add': 2, 'tile': 1, 'slice': 1, 'concat': None, 'aggregate': 1, 'gate_mix': 2, 'maxpool2d': 1,
       'avgpool2d': 1, 'global_avgpool': 1, 'linear': 1}


class Graph:
    """A graph being written: nodes in execution order and their arrays.

    Args:
        input_shape (Sequence[int]): ``(N, C, H, W)`` of the input.
    """

    def __init__(self, input_shape):
        self.input = dict(name='input', shape=[int(v) for v in input_shape])
        self.nodes: List[dict] = []
        self.arrays: Dict[str, np.ndarray] = {}
        self.outputs: List[str] = []
        self._names = {'input'}

    def add(self, op: str, inputs, source: str, attrs: Optional[dict] = None,
            arrays: Optional[dict] = None) -> str:
        """Append a node; returns its name (the name of its output)."""
        if op not in OPS:
            raise ValueError(f'unknown op {op!r}')
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        n = OPS[op]
        if (len(inputs) != n if n else not inputs) or any(i not in self._names for i in inputs):
            raise ValueError(f'{op} at {source}: bad inputs {inputs}')
        base = f'{source or op}:{op}'
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f'{base}{i}'
        self._names.add(name)
        self.nodes.append(dict(name=name, op=op, inputs=inputs, attrs=dict(attrs or {}),
                               source=source))
        for key, value in (arrays or {}).items():
            if value is not None:
                self.arrays[f'{name}/{key}'] = np.ascontiguousarray(value)
        return name

    def to_dict(self) -> dict:
        """The JSON-able graph (without the arrays)."""
        ops = [n['op'] for n in self.nodes]
        summary = dict(nodes=len(ops), binary_convs=ops.count('bconv2d'),
                       float_convs=ops.count('conv2d'),
                       ops={op: ops.count(op) for op in sorted(set(ops))})
        return dict(format=GRAPH_FORMAT, version=GRAPH_VERSION, input=self.input,
                    outputs=list(self.outputs), nodes=self.nodes, summary=summary)


def save_graph(graph: dict, arrays: Dict[str, np.ndarray], prefix: str) -> Tuple[str, str]:
    """Write ``PREFIX.json`` and ``PREFIX.npz``; returns their paths."""
    json_path, npz_path = prefix + '.json', prefix + '.npz'
    with open(json_path, 'w') as f:
        json.dump(graph, f, indent=1)
    np.savez(npz_path, **arrays)
    return json_path, npz_path


def load_graph(prefix: str) -> Tuple[dict, Dict[str, np.ndarray]]:
    """``(graph, arrays)`` from ``PREFIX.json`` and ``PREFIX.npz``."""
    with open(prefix + '.json') as f:
        graph = json.load(f)
    if graph.get('format') != GRAPH_FORMAT:
        raise ValueError(f'{prefix}.json is not an {GRAPH_FORMAT} file')
    if graph.get('version') != GRAPH_VERSION:
        raise ValueError(f'{prefix}.json has version {graph.get("version")}, this reader '
                         f'{GRAPH_VERSION}')
    with np.load(prefix + '.npz') as z:
        arrays = {k: z[k] for k in z.files}
    return graph, arrays


def graph_prefix(path: str) -> str:
    """``path`` without a ``.json``/``.npz``/``.tflite`` extension."""
    root, ext = osp.splitext(path)
    return root if ext in ('.json', '.npz', '.tflite') else path
