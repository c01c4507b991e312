"""mmbnn's registry from the default scopes of mmdet, mmseg and mmpretrain."""
import subprocess
import sys

import pytest
import torch
from mmcv.cnn import build_conv_layer
from mmengine.registry import DefaultScope, init_default_scope

import mmbnn
from mmbnn.layers import BinaryConv2d, BinaryLinear
from mmbnn.registry import MODELS

SCOPES = ['mmdet', 'mmseg', 'mmpretrain']
# The two documented ways to name a binary layer in conv_cfg: the scoped name, which needs no
# import, and the plain name, registered in mmengine's root registry as mmcv's convs are.
CONV_TYPES = ['mmbnn.BinaryConv2d', 'BinaryConv2d']


@pytest.fixture
def scope(request):
    """Run a test under a default scope, and put the previous one back afterwards."""
    previous = DefaultScope.get_current_instance()
    init_default_scope(request.param)
    yield request.param
    if previous is not None:
        init_default_scope(previous.scope_name)


@pytest.mark.parametrize('scope', SCOPES, indirect=True)
@pytest.mark.parametrize('conv_type', CONV_TYPES)
def test_conv_cfg_builds_binary_conv_in_every_scope(scope, conv_type):
    conv = build_conv_layer(dict(type=conv_type), 4, 8, 3, padding=1, bias=False)
    assert type(conv) is BinaryConv2d
    assert (conv.input_bits, conv.weight_bits) == (1, 1)
    out = conv(torch.randn(2, 4, 6, 6))
    assert out.shape == (2, 8, 6, 6)


@pytest.mark.parametrize('scope', SCOPES, indirect=True)
def test_scoped_registry_build_in_every_scope(scope):
    from mmengine.registry import MODELS as ROOT
    linear = ROOT.build(dict(type='mmbnn.BinaryLinear', in_features=5, out_features=3))
    assert type(linear) is BinaryLinear
    assert MODELS.scope == 'mmbnn' and MODELS.parent is ROOT


@pytest.mark.parametrize('scope_name', SCOPES)
def test_scoped_name_needs_no_custom_imports(scope_name):
    """In a fresh interpreter that never imported mmbnn, `mmbnn.X` resolves by itself."""
    code = f"""
import sys, torch
from mmengine.registry import init_default_scope
from mmcv.cnn import build_conv_layer
init_default_scope({scope_name!r})
assert 'mmbnn' not in sys.modules
conv = build_conv_layer(dict(type='mmbnn.BinaryConv2d', pad_value=1.0), 3, 4, 3, padding=1)
assert type(conv).__module__ == 'mmbnn.layers.binary_conv', type(conv)
assert conv(torch.zeros(1, 3, 5, 5)).shape == (1, 4, 5, 5)
print('ok')
"""
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith('ok')


@pytest.mark.parametrize('scope', SCOPES, indirect=True)
def test_unknown_type_names_the_type(scope):
    with pytest.raises(KeyError, match='BinaryConv3000'):
        build_conv_layer(dict(type='mmbnn.BinaryConv3000'), 4, 8, 3)


def test_missing_argument_is_named():
    with pytest.raises(TypeError, match='out_channels'):
        MODELS.build(dict(type='BinaryConv2d', in_channels=3, kernel_size=3))


def test_unknown_argument_is_named():
    with pytest.raises(TypeError, match='act_binariser'):
        MODELS.build(dict(type='BinaryConv2d', in_channels=3, out_channels=4, kernel_size=3,
                          act_binariser=dict(type='STESign')))


def test_version():
    assert mmbnn.__version__.count('.') == 2
