"""Models with binary layers export to ONNX, and onnxruntime computes what PyTorch computes.

The binarizers' autograd functions are traced through: binarization appears in the graph as
``Sign(Sign(x) + 0.5)`` (or ``Where(GreaterOrEqual(x, 0), 1, -1)``), which keeps ``sign(0) = +1``
(ONNX's ``Sign`` maps 0 to 0, so a bare ``Sign`` would be wrong on exact zeros; the inputs below
contain many, and the outputs are compared with onnxruntime's).
"""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from mmbnn.binarizers import ActivationBinarizer
from mmbnn.layers import BinaryConv2d, BinaryLinear

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

EXPORTERS = ['torchscript', 'dynamo']


class SmallBinaryNet(nn.Module):
    """Real stem, two binary convolutions (zero and +1 padding), BN, a binary linear head."""

    def __init__(self, size: int = 6):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.conv1 = BinaryConv2d(8, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = BinaryConv2d(8, 8, 3, padding=1, pad_value=1.0, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = BinaryLinear(8 * size * size, 5)

    def forward(self, x):
        x = self.bn1(self.conv1(self.stem(x)))
        x = self.bn2(self.conv2(x))
        return self.fc(x.flatten(1))


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics and affine parameters (so that the outputs do not sit on the sign's
    threshold), some exact-zero weights in the binary layers, then eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g))
            elif isinstance(m, (BinaryConv2d, BinaryLinear)):
                m.weight.view(-1)[::7] = 0  # sign(0) = +1 for weights too
    model.eval()  # mmpretrain's ResNet.train() returns None
    return model


def _inputs(shape, seed: int = 0):
    """Random inputs, inputs with exact-zero patches and an all-zero input."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    patched = torch.randn(shape, generator=g)
    patched[..., :shape[-2] // 2, :shape[-1] // 2] = 0
    patched[0] = 0
    return [x, patched]


def _export(model, x, path, exporter):
    if exporter == 'dynamo':
        pytest.importorskip('onnxscript')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation warning
        torch.onnx.export(model, (x,), str(path), input_names=['input'],
                          dynamo=exporter == 'dynamo', verbose=False)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    return graph


def _binarizations(graph) -> int:
    """Number of ``Where(GreaterOrEqual(., .), ., .)`` and ``Sign`` nodes in the graph."""
    producers = {out: node for node in graph.graph.node for out in node.output}
    count = 0
    for node in graph.graph.node:
        if node.op_type == 'Sign':
            count += 1
        elif node.op_type == 'Where':
            cond = producers.get(node.input[0])
            count += cond is not None and cond.op_type == 'GreaterOrEqual'
    return count


def _zeros_at_binarizers(model, inputs) -> int:
    """How many exact zeros reach the activation binarizers (the comparison must see some)."""
    zeros = []
    handles = [m.register_forward_pre_hook(lambda mod, args: zeros.append(int((args[0] == 0)
                                                                               .sum())))
               for m in model.modules() if isinstance(m, ActivationBinarizer)]
    with torch.no_grad():
        for x in inputs:
            model(x)
    for h in handles:
        h.remove()
    return sum(zeros)


def _compare(model, graph_path, inputs):
    session = ort.InferenceSession(str(graph_path), providers=['CPUExecutionProvider'])
    for x in inputs:
        with torch.no_grad():
            expected = model(x)
        expected = expected[-1] if isinstance(expected, (tuple, list)) else expected
        actual, = session.run(None, {'input': x.numpy()})
        np.testing.assert_allclose(actual, expected.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('exporter', EXPORTERS)
def test_binary_layers_export_and_match(tmp_path, exporter):
    torch.manual_seed(0)
    model = _randomise(SmallBinaryNet())
    inputs = _inputs((2, 3, 6, 6))
    path = tmp_path / 'small.onnx'
    graph = _export(model, inputs[0], path, exporter)
    ops = {node.op_type for node in graph.graph.node}
    assert {'Conv', 'Pad'} <= ops, ops  # the +1 padding is an explicit Pad
    # One binarization per activation binarizer at least (the weights' may be constant-folded).
    assert _binarizations(graph) >= 3, sorted(ops)
    assert _zeros_at_binarizers(model, inputs) > 0
    _compare(model, path, inputs)


def test_zero_maps_to_plus_one_in_onnx(tmp_path):
    """sign(0) = +1 for activations and weights, checked on the values themselves."""
    layer = BinaryLinear(4, 3, bias=False, weight_binarizer=dict(type='XNORWeight')).eval()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0., 1., -1., 2.], [-1., 0., 0., 1.], [0., 0., 0., 3.]]))
    x = torch.tensor([[0., 0., 0., 0.], [0., -0.5, 0.5, 0.]])
    path = tmp_path / 'linear.onnx'
    _export(layer, x, path, 'torchscript')
    actual, = ort.InferenceSession(str(path), providers=['CPUExecutionProvider']).run(
        None, {'input': x.numpy()})
    w = layer.weight.detach().numpy()
    signs_w = np.where(w >= 0, 1., -1.)
    alpha = np.abs(w).mean(1)
    signs_x = np.where(x.numpy() >= 0, 1., -1.)
    np.testing.assert_allclose(actual, signs_x @ (alpha[:, None] * signs_w).T, atol=1e-6)
    np.testing.assert_allclose(actual, layer(x).detach().numpy(), atol=1e-6)


def test_mmpretrain_resnet18_exports_and_matches(tmp_path):
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    conv_cfg = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
                    weight_binarizer=dict(type='XNORWeight'))
    model = _randomise(ResNet(depth=18, conv_cfg=conv_cfg))
    n_binarizers = sum(isinstance(m, ActivationBinarizer) for m in model.modules())
    assert n_binarizers == 1 + 16 + 3  # stem (conv_cfg too), 8 blocks x 2, 3 downsamples
    inputs = _inputs((2, 3, 32, 32))
    path = tmp_path / 'resnet18.onnx'
    graph = _export(model, inputs[0], path, 'torchscript')
    assert _binarizations(graph) >= n_binarizers
    assert _zeros_at_binarizers(model, inputs) > 0
    _compare(model, path, inputs)
