"""larq-convention counts (mmbnn.analysis.larq_counts) against hand counts and larq-zoo figures."""
import json

import pytest
from torch import nn

from conftest import CONFIGS
from mmbnn.analysis import larq_counts, summarize
from mmbnn.layers import BinaryConv2d


class _Tiny(nn.Module):
    """A real conv + full BN, a binary conv + BN without affine, a Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.bconv = BinaryConv2d(4, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8, affine=False)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.bn2(self.bconv(self.bn(self.conv(x))))
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize('convention, bn_values', [
    ('larq', 2 * 4 + 2 * 8),       # moving mean and variance only, gamma/beta folded into them
    ('keras', 4 * 4 + 2 * 8),      # every BN variable: gamma, beta, mean, var; mean, var
    ('pytorch', 2 * 4),            # the summary's own: the affine parameters only
])
def test_hand_counts(convention, bn_values):
    net = _Tiny()
    counts = larq_counts(net, input_shape=(3, 6, 6), convention=convention)
    real = 3 * 4 * 9 + 8 * 5 + 5  # conv, fc weight and bias
    binary = 4 * 8 * 9
    assert counts.bn_values == (0 if convention == 'pytorch' else bn_values)
    assert counts.params_by_bits == {1: binary, 32: real + bn_values}
    assert counts.params == binary + real + bn_values
    assert counts.size_mb == (binary + 32 * (real + bn_values)) / 8 / 2**20
    macs_real = 4 * 36 * 27 + 8 * 5
    macs_binary = 8 * 36 * 36
    assert counts.macs_by_precision == {1: macs_binary, 32: macs_real}
    assert counts.binary_mac_share == macs_binary / (macs_binary + macs_real)
    assert counts.to_dict()['params'] == counts.params


def test_pytorch_convention_is_the_summary():
    net = _Tiny()
    s = summarize(net, (3, 6, 6))
    counts = larq_counts(net, s, convention='pytorch')
    assert counts.params == s.params == sum(p.numel() for p in net.parameters())
    assert counts.memory_bits == s.size_kb * 8 * 1024
    assert counts.macs == s.macs and counts.macs_by_precision[1] == s.bops


def test_bad_convention():
    with pytest.raises(ValueError, match='convention'):
        larq_counts(_Tiny(), input_shape=(3, 6, 6), convention='tf')


def test_bireal_net18_matches_larq_zoo():
    """larq-zoo's Bi-Real Net: 11,699,112 parameters and 4.03 MB in its docstring (2019, every BN
    variable), 4.00 MB on its docs page (larq >= 0.10); 1.81 G MACs, 92.4 % binarized."""
    from test_summary import bireal_net18
    net = bireal_net18()
    s = summarize(net, (3, 224, 224))
    keras = larq_counts(net, s, convention='keras')
    assert keras.params == 11_699_112
    assert round(keras.size_mb, 2) == 4.03
    larq = larq_counts(net, s)
    assert larq.params == 11_699_112 - 2 * 4800  # 4800 BN channels lose gamma and beta
    assert round(larq.size_mb, 2) == 4.00
    assert larq.macs == pytest.approx(1.81e9, rel=0.005)
    assert round(100 * larq.binary_mac_share, 1) == 92.4


def test_tool_flag(capsys):
    from test_summary import load_tool
    tool = load_tool()
    tool.main([f'{CONFIGS}/tiny_cls.py', '--json', '--larq', 'keras'])
    d = json.loads(capsys.readouterr().out)
    assert d['larq']['convention'] == 'keras'
    assert d['larq']['params'] == d['totals']['params'] + d['larq']['bn_values'] - sum(
        r['num_params'] for r in d['rows'] if r['type'].startswith('BatchNorm'))
    assert tool.parse_args(['c.py', '--larq']).larq == 'larq'  # the default convention
    text = tool.format_larq(larq_counts(_Tiny(), input_shape=(3, 6, 6)))
    assert "larq convention ('larq'" in text and 'MB (2^20 bytes)' in text
