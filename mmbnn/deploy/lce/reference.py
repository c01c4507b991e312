"""The neutral graph computed in torch: what every op of :mod:`.graph` means, executable.

:func:`run_graph` is the float reference of an exported graph: :func:`~.describe.describe`
checks the graph against the model with it, the tests check the graph's values with it, and the
LCE side must compute the same (``bconv2d`` up to the order of float operations: LCE sums the
binary products as integers).
"""
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['run_graph', 'shapes_of', 'binarizer_margins']


def _t(arrays: Dict[str, np.ndarray], node: dict, key: str, device=None, dtype=None):
    a = arrays.get(f'{node["name"]}/{key}')
    if a is None:
        return None
    t = torch.as_tensor(a, device=device)
    return t.to(dtype) if dtype is not None and t.is_floating_point() else t


def _ch(v: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, 1, 1)


def _bconv2d(x, node, arrays):
    a = node['attrs']
    thr = _t(arrays, node, 'threshold', x.device, x.dtype)
    xb = torch.where((x if thr is None else x - _ch(thr)) >= 0, 1.0, -1.0).to(x.dtype)
    ph, pw = a['padding']
    if ph or pw:
        xb = F.pad(xb, (pw, pw, ph, ph), value=a['pad_value'])
    signs = _t(arrays, node, 'signs', x.device).to(x.dtype)
    scale = _t(arrays, node, 'scale', x.device, x.dtype)
    w = signs * scale.view(-1, 1, 1, 1)  # the model's effective weight
    return F.conv2d(xb, w, _t(arrays, node, 'bias', x.device, x.dtype), a['stride'], 0,
                    a['dilation'], a['groups'])


def _tile(x, times):
    return x.repeat(1, times, *([1] * (x.dim() - 2)))


def _op(node: dict, ins: List[torch.Tensor], arrays) -> torch.Tensor:
    op, a, x = node['op'], node['attrs'], ins[0]

    def arr(key):
        return _t(arrays, node, key, x.device, x.dtype)

    if op == 'normalize':
        if a.get('flip_channels'):
            x = x.flip(1)
        return (x - _ch(arr('mean'))) / _ch(arr('std'))
    if op == 'conv2d':
        return F.conv2d(x, arr('weight'), arr('bias'), a['stride'], a['padding'], a['dilation'],
                        a['groups'])
    if op == 'bconv2d':
        return _bconv2d(x, node, arrays)
    if op == 'batchnorm':
        return F.batch_norm(x, arr('mean'), arr('var'), arr('weight'), arr('bias'), False, 0.0,
                            a['eps'])
    if op == 'relu':
        return F.relu(x)
    if op == 'prelu':
        return F.prelu(x, arr('slope'))
    if op == 'bias_add':
        return x + arr('bias').view(1, -1, *([1] * (x.dim() - 2)))
    if op == 'add':
        return x + ins[1]
    if op == 'tile':
        return _tile(x, a['times'])
    if op == 'slice':
        return x[:, a['start']:a['stop']]
    if op == 'concat':
        return torch.cat(ins, 1)
    if op == 'aggregate':
        k = a['bases']
        lam = arr('scales').view(1, k, 1, *([1] * (x.dim() - 2)))
        return (lam * x.view(x.shape[0], k, -1, *x.shape[2:])).sum(1)
    if op == 'gate_mix':
        own, k = ins[1], a['bases']
        g = arr('gate').view(1, k, *([1] * (x.dim() - 1)))
        mixed = g * own.view(own.shape[0], k, -1, *own.shape[2:]) + (1 - g) * x.unsqueeze(1)
        return mixed.flatten(1, 2)
    if op == 'maxpool2d':
        return F.max_pool2d(x, a['kernel'], a['stride'], a['padding'], a['dilation'],
                            a['ceil_mode'])
    if op == 'avgpool2d':
        return F.avg_pool2d(x, a['kernel'], a['stride'], a['padding'], a['ceil_mode'],
                            a['count_include_pad'])
    if op == 'global_avgpool':
        return x.mean((2, 3))
    if op == 'linear':
        return F.linear(x, arr('weight'), arr('bias'))
    raise ValueError(f'unknown op {op!r} in node {node["name"]}')


def run_graph(graph: dict, arrays: Dict[str, np.ndarray], x: torch.Tensor,
              keep: bool = False, dtype: torch.dtype = torch.float32):
    """Compute the graph on ``x`` (N, C, H, W).

    Args:
        graph (dict): The graph. arrays (dict): Its arrays.
        x (Tensor): The input, shaped as ``graph['input']['shape']`` (any batch size).
        keep (bool): Also return every node's output. Default: False.
        dtype (torch.dtype): The float type to compute in; ``torch.float64`` shows how much
            of a difference between two float32 engines float rounding alone makes (a value
            within rounding of a binarizer's threshold flips its sign). Default: float32.

    Returns:
        list[Tensor] | tuple[list[Tensor], dict]: The outputs in ``graph['outputs']`` order
        (and name -> value of every node with ``keep``).
    """
    values = {'input': x.to(dtype)}
    with torch.no_grad():
        for node in graph['nodes']:
            values[node['name']] = _op(node, [values[i] for i in node['inputs']], arrays)
    outs = [values[o] for o in graph['outputs']]
    return (outs, values) if keep else outs


def shapes_of(graph: dict, arrays: Dict[str, np.ndarray]) -> Dict[str, list]:
    """Node name -> output shape without the batch dimension (computed on the meta device)."""
    n, *chw = graph['input']['shape']
    _, values = run_graph(graph, arrays, torch.empty(1, *chw, device='meta'), keep=True)
    return {k: list(v.shape[1:]) for k, v in values.items() if k != 'input'}


def binarizer_margins(graph: dict, arrays: Dict[str, np.ndarray], x: torch.Tensor) -> torch.Tensor:
    """How close each image comes to a sign flip: per image, the smallest ``|v - threshold|``
    over the inputs ``v`` of every binary conv, relative to the largest ``|v - threshold|`` of
    that conv's input on that image, computed in float64.

    Two float32 engines that order their float operations differently (LCE folds scales and
    biases into its bconv's output transform and corrects zero padding after the conv; mmbnn
    computes them as the model does) agree to about 1e-7 relative on every real value, but a
    binarizer input that close to its threshold can land on the other side: one flipped sign
    changes that conv's output by twice its weight's scale at every output position that reads
    it. An image whose margin is below about 1e-6 can therefore differ between two exact engines
    by much more than rounding, while one far from every threshold cannot.

    Returns:
        Tensor: (N, ) float64 margins.
    """
    _, values = run_graph(graph, arrays, x, keep=True, dtype=torch.float64)
    margin = torch.full((x.shape[0], ), float('inf'), dtype=torch.float64)
    for node in graph['nodes']:
        if node['op'] != 'bconv2d':
            continue
        v = values[node['inputs'][0]]
        thr = _t(arrays, node, 'threshold', v.device, v.dtype)
        d = (v if thr is None else v - _ch(thr)).abs().flatten(1)
        rel = d.amin(1) / d.amax(1).clamp_min(torch.finfo(torch.float64).tiny)
        margin = torch.minimum(margin, rel)
    return margin
