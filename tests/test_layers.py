"""BinaryConv2d and BinaryLinear: every conv argument honoured, values against references, and the
same conv_cfg inside mmdet's, mmseg's and mmpretrain's ResNets."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.layers import BinaryConv2d, BinaryLinear
from mmbnn.registry import MODELS

CONV_ARGS = [
    dict(),
    dict(stride=2, padding=1),
    dict(padding=2, dilation=2),
    dict(padding=1, groups=2),
    dict(padding=1, bias=False),
    dict(padding=(1, 2), stride=(2, 1)),
    dict(padding='same'),
    dict(padding=1, padding_mode='reflect'),
    dict(padding=1, padding_mode='replicate'),
    dict(padding=1, padding_mode='circular'),
]


def np_sign(a):
    return np.where(a >= 0, 1.0, -1.0)


@pytest.mark.parametrize('kwargs', CONV_ARGS)
def test_full_precision_conv_equals_nn_conv2d(kwargs):
    """With both binarizers off the layer is exactly nn.Conv2d: every argument is honoured."""
    torch.manual_seed(0)
    ref = nn.Conv2d(4, 6, 3, **kwargs)
    conv = BinaryConv2d(4, 6, 3, act_binarizer=None, weight_binarizer=None, **kwargs)
    conv.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, 9, 8)
    torch.testing.assert_close(conv(x), ref(x), rtol=0, atol=0)


@pytest.mark.parametrize('kwargs', CONV_ARGS)
def test_binary_conv_matches_reference(kwargs):
    """sign(x) conv (alpha_c sign(w_c)), padding applied to the binarized input."""
    torch.manual_seed(1)
    conv = BinaryConv2d(4, 6, 3, **kwargs).double()
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64)
    x[0, 0, 0, :3] = 0  # exact zeros binarize to +1
    w = conv.weight.detach().numpy()
    alpha = np.abs(w).reshape(6, -1).mean(1).reshape(6, 1, 1, 1)
    ref = nn.Conv2d(4, 6, 3, **kwargs).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(alpha * np_sign(w)))
        if ref.bias is not None:
            ref.bias.copy_(conv.bias)
    expected = ref(torch.from_numpy(np_sign(x.numpy())))
    torch.testing.assert_close(conv(x), expected)


@pytest.mark.parametrize('stride,dilation', [(1, 1), (2, 1), (1, 3)])
def test_pad_value_one_keeps_binary_inputs(stride, dilation, monkeypatch):
    torch.manual_seed(2)
    pad = dilation
    conv = BinaryConv2d(3, 5, 3, stride=stride, padding=pad, dilation=dilation, bias=False,
                        pad_value=1.0).double()
    x = torch.randn(1, 3, 7, 7, dtype=torch.float64)
    seen = []
    conv2d = F.conv2d
    monkeypatch.setattr(F, 'conv2d', lambda inp, *a, **k: seen.append(inp) or conv2d(inp, *a, **k))
    out = conv(x)
    monkeypatch.undo()
    assert seen[0].shape[-1] == 7 + 2 * pad
    assert set(seen[0].unique().tolist()) == {-1.0, 1.0}  # the padded border is +1, not 0
    xb = F.pad(torch.from_numpy(np_sign(x.numpy())), [pad] * 4, value=1.0)
    w = conv.weight.detach()
    alpha = w.abs().mean(dim=(1, 2, 3), keepdim=True)
    expected = F.conv2d(xb, alpha * torch.where(w >= 0, 1.0, -1.0).double(), None, stride, 0,
                        dilation)
    torch.testing.assert_close(out, expected)
    zero_padded = BinaryConv2d(3, 5, 3, stride=stride, padding=pad, dilation=dilation,
                               bias=False).double()
    zero_padded.load_state_dict(conv.state_dict())
    assert not torch.allclose(out, zero_padded(x))  # the border differs from zero padding


def test_gradients_reach_input_and_weight():
    conv = BinaryConv2d(2, 3, 3, padding=1, pad_value=1.0)
    x = torch.tensor([[[[-2.0, -0.5, 0.0], [0.5, 1.0, 3.0], [0.2, -0.2, -1.0]]] * 2])
    x.requires_grad_(True)
    conv(x).sum().backward()
    inside = (x.detach().abs() <= 1).float()
    assert torch.all((x.grad != 0).float() <= inside)  # clipped STE: no gradient where |x| > 1
    assert x.grad[inside.bool()].abs().sum() > 0
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_binary_linear_matches_reference():
    torch.manual_seed(3)
    lin = BinaryLinear(5, 4).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    x[0, 0] = 0
    w = lin.weight.detach().numpy()
    alpha = np.abs(w).mean(1, keepdims=True)
    expected = np_sign(x.numpy()) @ (alpha * np_sign(w)).T + lin.bias.detach().numpy()
    np.testing.assert_allclose(lin(x).detach().numpy(), expected, rtol=1e-12)
    assert (lin.input_bits, lin.weight_bits) == (1, 1)
    real = BinaryLinear(5, 4, act_binarizer=None, weight_binarizer=None)
    assert (real.input_bits, real.weight_bits) == (32, 32)


def test_bit_width_metadata():
    conv = BinaryConv2d(3, 4, 3, weight_binarizer=None)
    assert (conv.input_bits, conv.weight_bits) == (1, 32)
    conv = BinaryConv2d(3, 4, 3, act_binarizer=None)
    assert (conv.input_bits, conv.weight_bits) == (32, 1)


def test_bad_arguments_fail_at_build_time():
    with pytest.raises(ValueError, match='padding_mode'):
        BinaryConv2d(3, 4, 3, padding=1, padding_mode='mirror')
    with pytest.raises(ValueError, match='pad_value'):
        BinaryConv2d(3, 4, 3, padding=1, padding_mode='reflect', pad_value=1.0)
    with pytest.raises(ValueError, match='groups'):
        BinaryConv2d(3, 4, 3, groups=2)
    with pytest.raises(KeyError, match='NoSuchSign'):
        BinaryConv2d(3, 4, 3, act_binarizer=dict(type='NoSuchSign'))
    with pytest.raises(TypeError, match='binarizer config'):
        BinaryConv2d(3, 4, 3, weight_binarizer='XNORWeight')
    with pytest.raises(TypeError, match='not a binarizer'):
        BinaryConv2d(3, 4, 3, weight_binarizer=dict(type='BinaryLinear', in_features=1,
                                                     out_features=1))


BINARY_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
                   weight_binarizer=dict(type='XNORWeight'))


def toolbox_resnets():
    from mmdet.models.backbones import ResNet as DetResNet
    from mmpretrain.models.backbones import ResNet as ClsResNet
    from mmseg.models.backbones import ResNetV1c
    return {
        'mmdet.ResNet': lambda: DetResNet(depth=18, conv_cfg=BINARY_CONV),
        'mmseg.ResNetV1c': lambda: ResNetV1c(depth=18, conv_cfg=BINARY_CONV),
        'mmpretrain.ResNet': lambda: ClsResNet(depth=18, conv_cfg=BINARY_CONV),
    }


@pytest.mark.parametrize('name', ['mmdet.ResNet', 'mmseg.ResNetV1c', 'mmpretrain.ResNet'])
def test_conv_cfg_puts_binary_convs_in_toolbox_resnets(name):
    torch.manual_seed(0)
    model = toolbox_resnets()[name]()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    binary = [m for m in convs if isinstance(m, BinaryConv2d)]
    # Every 3x3 conv of the 8 basic blocks is binary (16), and so are the 3 downsample 1x1 convs
    # and the stem (mmdet's/mmpretrain's 7x7, mmseg's three 3x3), which take conv_cfg too.
    assert len(binary) >= 16 + 3 + 1 and len(binary) == len(convs)
    model.train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    outs = model(x)
    assert outs[-1].shape == (2, 512, 2, 2)
    sum(o.sum() for o in outs).backward()
    assert all(m.weight.grad is not None for m in binary)


def test_registry_builds_layers():
    conv = MODELS.build(dict(type='BinaryConv2d', in_channels=3, out_channels=4, kernel_size=1))
    assert isinstance(conv, BinaryConv2d)
