"""Binary 2-D convolution, usable through ``conv_cfg`` in any OpenMMLab model."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS, ROOT_MODELS
from .binary_layer import BinaryLayerMixin

__all__ = ['BinaryConv2d']


@MODELS.register_module()
@ROOT_MODELS.register_module()
class BinaryConv2d(BinaryLayerMixin, nn.Conv2d):
    """A ``nn.Conv2d`` whose input and weight pass through binarizers.

    ``y = conv(pad(b_a(x), pad_value), b_w(W)) + bias``. The input is binarized *before* padding,
    so with ``pad_value=1.0`` (Group-Net's choice) a padded binary input stays in {-1, +1};
    ``pad_value=0`` is the usual zero padding.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode: As for :class:`torch.nn.Conv2d`, all honoured.
        act_binarizer (dict | None): Config of the activation binarizer; None keeps real inputs.
            Default: ``dict(type='STESign')`` (sign, gradient clipped at |x| <= 1).
        weight_binarizer (dict | None): Config of the weight binarizer; None keeps real weights.
            Default: ``dict(type='XNORWeight')`` (sign times mean |w| per output channel).
        pad_value (float): Value of the padded border with ``padding_mode='zeros'``. Default: 0.

    Execution (the same values either way): a model whose conv holds K bases as its groups, base
    by base along the output channels (Group-Net's group decomposition), sets
    :attr:`execution_bases` to K. A call whose weight has more elements than its output then
    runs base by base: the weight binarized one base at a time (for binarizers that treat rows
    on their own, :attr:`~mmbnn.binarizers.WeightBinarizer.rowwise`) and K convs, which keeps
    each pass over the weight in cache. Measured here on Group-Net ResNet-18's layer 4 (K = 5,
    batch 8 at 4x4, one thread): 0.64-0.74x the time of one grouped / dense conv over the whole
    weight; where activations dominate, one conv is faster and is used.
    """
    #: K bases held as this conv's groups (set by the model; 1: no per-base execution).
    execution_bases: int = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = 'zeros',
                 act_binarizer: Optional[dict] = dict(type='STESign'),
                 weight_binarizer: Optional[dict] = dict(type='XNORWeight'),
                 pad_value: float = 0.0, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode,
                         device=device, dtype=dtype)
        if pad_value != 0 and padding_mode != 'zeros':
            raise ValueError(f'pad_value={pad_value} needs padding_mode="zeros", '
                             f'got padding_mode={padding_mode!r}')
        self.pad_value = float(pad_value)
        self._init_binarizers(act_binarizer, weight_binarizer, in_channels, out_channels)

    def forward(self, x: torch.Tensor, num_shared_bases: Optional[int] = None) -> torch.Tensor:
        """``conv(pad(b_a(x), pad_value), b_w(W)) + bias``. With ``num_shared_bases=K`` the layer
        holds K bases as groups and ``x`` is their shared input, given once (see
        :meth:`forward_shared`)."""
        if num_shared_bases is not None:
            return self.forward_shared(x, num_shared_bases)
        if self._per_base(x):
            return self._forward_per_base(self.binarize_input(x), shared=False)
        return self._conv(self.binarize_input(x), self.binarized_weight(), self.bias, self.groups)

    def _per_base(self, x: torch.Tensor) -> bool:
        """Whether to run base by base: K > 1 bases and more weights than outputs."""
        k = self.execution_bases
        if k <= 1 or self.groups % k or self.weight_binarizer is None:
            return False
        outputs = x.shape[0] * self.out_channels * x.shape[-2] * x.shape[-1] // (
            self.stride[0] * self.stride[1])
        return self.weight.numel() > outputs

    def _forward_per_base(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """The K bases one at a time (``x`` binarized; ``shared``: one input for all)."""
        k = self.execution_bases
        weights = self.weight_binarizer.chunks(self.weight, k)
        biases = [None] * k if self.bias is None else self.bias.chunk(k)
        cin = x.shape[1] if shared else x.shape[1] // k
        outs = [self._conv(x if shared else x[:, i * cin:(i + 1) * cin], weights[i], biases[i],
                           self.groups // k) for i in range(k)]
        return torch.cat(outs, dim=1)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
              groups: int) -> torch.Tensor:
        """``conv(pad(x, pad_value), weight) + bias`` with this layer's geometry."""
        if self.padding_mode == 'zeros' and self.pad_value == 0:
            return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)
        if any(self._reversed_padding_repeated_twice):
            if self.padding_mode == 'zeros':
                x = F.pad(x, self._reversed_padding_repeated_twice, value=self.pad_value)
            else:
                x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
        return F.conv2d(x, weight, bias, self.stride, 0, self.dilation, groups)

    def shares_input(self) -> bool:
        """Whether K bases stacked along the input channels binarize a shared input alike: the
        activation binarizer has no per-channel state (no threshold per base or channel)."""
        return getattr(self.act_binarizer, 'channels', None) is None

    def forward_shared(self, x: torch.Tensor, num_bases: int) -> torch.Tensor:
        """``forward(x.repeat(1, K, 1, 1))`` for a layer holding K bases as groups, computed as
        ONE dense conv of the input binarized once: with ``groups = K g`` the weight
        ``(K C_out, C_in / (K g), kh, kw)`` is also the weight of a conv with ``g`` groups over
        the un-repeated input, whose output is base-major, as the grouped conv's."""
        if self.groups % num_bases or x.shape[1] * num_bases != self.in_channels:
            raise ValueError(f'forward_shared: {x.shape[1]} input channels x K={num_bases} '
                             f'bases do not match in_channels={self.in_channels}, '
                             f'groups={self.groups}')
        if not self.shares_input():
            return self.forward(x.repeat(1, num_bases, *([1] * (x.dim() - 2))))
        if num_bases == self.execution_bases and self._per_base(x):
            return self._forward_per_base(self.binarize_input(x), shared=True)
        return self._conv(self.binarize_input(x), self.binarized_weight(), self.bias,
                          self.groups // num_bases)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f', pad_value={self.pad_value}' if self.pad_value else '')
