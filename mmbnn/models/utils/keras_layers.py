"""Two Keras layers that larq-zoo's networks use and PyTorch lacks: a BatchNorm without gamma and/or
beta (``BatchNormalization(scale=False, center=False)``) and the fixed anti-aliasing blur of
QuickNet's transitions (``DepthwiseConv2D(trainable=False)`` with ``blurpool_initializer``)."""
import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import nn

__all__ = ['build_keras_bn', 'BlurPool2d']


def build_keras_bn(norm_cfg: dict, channels: int, scale: bool = True,
                   center: bool = True) -> nn.Module:
    """``build_norm_layer(norm_cfg, channels)[1]`` without gamma (``scale=False``) and/or beta
    (``center=False``), as Keras' ``BatchNormalization(scale=..., center=...)``: the missing
    affine parameter is None, so the layer computes ``(x - mean) / sqrt(var + eps) [* gamma]
    [+ beta]`` and its state dict has no key for it (BN folding and mmengine's initialisers
    accept a None weight or bias)."""
    bn = build_norm_layer(norm_cfg, channels)[1]
    if not scale:
        bn.register_parameter('weight', None)
    if not center:
        bn.register_parameter('bias', None)
    return bn


class BlurPool2d(nn.Module):
    """A fixed depthwise blur then subsampling (Zhang, "Making Convolutional Networks
    Shift-Invariant Again", ICML 2019), as QuickNet's transitions use it (larq-zoo's
    ``blurpool_initializer``): per channel the normalised outer product of the binomial row
    ([1, 1], [1, 2, 1] or [1, 4, 6, 4, 1]), stride ``stride``, zero padding ``kernel_size // 2``
    ("same" for odd kernels).

    The kernel is a Parameter with ``requires_grad=False`` (Keras' non-trainable weight), so that
    parameter counts agree with larq's; it is no ``nn.Conv2d`` subclass, so a backbone's
    ``init_cfg`` (``layer='Conv2d'``) leaves it alone.

    Args:
        channels (int): Channels (one filter each).
        kernel_size (int): 2, 3 or 5. Default: 3.
        stride (int): Subsampling. Default: 2.
    """
    _ROWS = {2: (1., 1.), 3: (1., 2., 1.), 5: (1., 4., 6., 4., 1.)}

    def __init__(self, channels: int, kernel_size: int = 3, stride: int = 2):
        super().__init__()
        if kernel_size not in self._ROWS:
            raise ValueError(f'kernel_size must be one of {sorted(self._ROWS)}, got '
                             f'{kernel_size!r}')
        row = torch.tensor(self._ROWS[kernel_size])
        kernel = torch.outer(row, row)
        kernel = kernel / kernel.sum()
        self.weight = nn.Parameter(kernel.expand(channels, 1, kernel_size, kernel_size).clone(),
                                   requires_grad=False)
        self.channels, self.stride, self.padding = channels, stride, kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, None, self.stride, self.padding, 1, self.channels)

    def extra_repr(self) -> str:
        return (f'{self.channels}, kernel_size={self.weight.shape[-1]}, stride={self.stride}, '
                f'padding={self.padding}')
