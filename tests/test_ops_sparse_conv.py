"""The sparse binary convolution (mmbnn.ops.sparse_binary_conv2d): exact against F.conv2d with
0/1 masks and with the all-ones filter, zero padding, on both popcounts; empty taps skipped."""
import pytest
import torch
import torch.nn.functional as F

from mmbnn.ops import pack_activations, pack_masks, sparse_binary_conv2d


def sign(x):
    return torch.where(x >= 0, 1.0, -1.0)


@pytest.mark.parametrize('isa', ['generic', 'auto', 'torch'])
@pytest.mark.parametrize('c,cout,k,stride,padding,dilation,density',
                         [(3, 4, 3, 1, 1, 1, 0.5), (65, 6, 3, 2, 1, 1, 0.1),
                          (130, 5, 3, 1, 2, 2, 0.05), (64, 8, 1, 1, 0, 1, 0.3)])
def test_exact(isa, c, cout, k, stride, padding, dilation, density):
    g = torch.Generator().manual_seed(c + cout)
    x = torch.randn(2, c, 9, 8, generator=g)
    mask = (torch.rand(cout, c, k, k, generator=g) < density).float()
    mask[0] = 0  # an all-zero filter
    mask[1, :, k // 2] = 0  # empty taps
    conv, window = sparse_binary_conv2d(pack_activations(x), pack_masks(mask), c, k, stride,
                                        padding, dilation, isa=isa)
    xs = sign(x).double()
    ref = F.conv2d(xs, mask.double(), None, stride, padding, dilation)
    ones = F.conv2d(xs, torch.ones(1, c, k, k, dtype=torch.float64), None, stride, padding,
                    dilation)
    assert conv.dtype == torch.int32 and torch.equal(conv.double(), ref)
    assert torch.equal(window.double(), ones)
    # the generalised binary weights w = tau * m + phi of a sparse layer
    tau, phi = 0.7, -0.2
    w = tau * mask.double() + phi
    torch.testing.assert_close(tau * conv.double() + phi * window.double(),
                               F.conv2d(xs, w, None, stride, padding, dilation))


def test_bad_masks():
    with pytest.raises(ValueError, match='0s and 1s'):
        pack_masks(torch.full((2, 3, 3, 3), 0.5))
