"""XNOR-Net++'s learned, factorised output scales (Bulat and Tzimiropoulos, BMVC 2019).

XNOR-Net++ drops XNOR-Net's scales computed from the weights and the activations and learns one
scale tensor for the output of the binary conv instead, ``y = (sign(x) * sign(W)) . Gamma`` with
``Gamma`` of the output's shape ``(C_out, H_out, W_out)``, factorised to keep it small. The
paper's cases (its Section 3): ``Gamma`` whole (case 1), ``alpha (x) beta`` with
``beta in R^{H_out x W_out}`` (case 3), ``alpha (x) beta (x) gamma`` with ``beta in R^{H_out}``,
``gamma in R^{W_out}`` (case 2), or ``alpha in R^{C_out}`` alone (case 4, equal to
:class:`mmbnn.binarizers.LearnedScaleWeight`). BiBench (``models/layers/xnorplusplus.py``) uses
case 2 with spatial vectors of 2000 entries sliced to the output size, so that one layer serves
any resolution; larq-zoo's Real-to-Binary "strong baseline" uses case 2 sized to the output.
"""
from typing import Optional, Sequence

import torch
from torch import nn

from mmbnn.registry import MODELS, ROOT_MODELS
from .binary_conv import BinaryConv2d

__all__ = ['FactorisedScale', 'XNORPlusPlusConv2d', 'SCALE_FACTORS']

#: The factorisations of ``Gamma`` (the paper's cases 1-4) -> shape of each factor, with C the
#: channels and S the largest output size.
SCALE_FACTORS = {
    ('chw', ): lambda c, s: [(c, s, s)],
    ('c', 'hw'): lambda c, s: [(c, 1, 1), (1, s, s)],
    ('c', 'h', 'w'): lambda c, s: [(c, 1, 1), (1, s, 1), (1, 1, s)],
    ('c', ): lambda c, s: [(c, 1, 1)],
}


class FactorisedScale(nn.Module):
    """``y = x . Gamma`` with ``Gamma`` the product of learned factors (module docstring),
    ``x`` of shape ``(N, C, H, W)``; each factor is sliced to ``H`` rows and ``W`` columns
    (BiBench's way of serving every resolution), so ``H, W <= max_size``.

    ``dL/dx = g . Gamma``; ``dL/dfactor`` is ``g . x`` times the other factors, summed over the
    dims the factor broadcasts along. Factors start at 1 (both reference codes).

    Args:
        channels (int): C.
        factors (Sequence[str]): ``('c', 'h', 'w')`` (case 2), ``('c', 'hw')`` (case 3),
            ``('chw', )`` (case 1) or ``('c', )`` (case 4). Default: ``('c', 'h', 'w')``.
        max_size (int): Largest output height and width the spatial factors cover (their
            length). Default: 2000 (BiBench's).
    """

    def __init__(self, channels: int, factors: Sequence[str] = ('c', 'h', 'w'),
                 max_size: int = 2000):
        super().__init__()
        factors = (factors, ) if isinstance(factors, str) else tuple(factors)
        if factors not in SCALE_FACTORS:
            raise ValueError(f'factors must be one of {list(SCALE_FACTORS)}, got {factors!r}')
        for name, v in (('channels', channels), ('max_size', max_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f'{name} must be a positive int, got {name}={v!r}')
        self.channels, self.factors, self.max_size = channels, factors, max_size
        self.scales = nn.ParameterList(
            nn.Parameter(torch.ones(shape)) for shape in SCALE_FACTORS[factors](channels,
                                                                                 max_size))

    def gamma(self, height: int, width: int) -> torch.Tensor:
        """``Gamma`` for an output of ``height x width``, shaped ``(C or 1, H or 1, W or 1)``."""
        if height > self.max_size or width > self.max_size:
            raise ValueError(f'FactorisedScale(max_size={self.max_size}) got an output of '
                             f'{height}x{width}; raise max_size')
        out = None
        for s in self.scales:
            s = s[:, :min(height, s.shape[1]), :min(width, s.shape[2])]
            out = s if out is None else out * s
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.size(1) != self.channels:
            raise ValueError(f'FactorisedScale(channels={self.channels}) expects (N, '
                             f'{self.channels}, H, W), got {tuple(x.shape)}')
        return x * self.gamma(x.size(2), x.size(3))

    def extra_repr(self) -> str:
        return f'channels={self.channels}, factors={self.factors}, max_size={self.max_size}'


@MODELS.register_module()
@ROOT_MODELS.register_module()
class XNORPlusPlusConv2d(BinaryConv2d):
    """A binary conv whose output is scaled by XNOR-Net++'s learned factorised ``Gamma``:
    ``y = Gamma . conv(pad(b_a(x)), b_w(W))``, plus the bias (scaled too) where there is one.

    The binarizers default to BiBench's XNOR++ layer: signs with the straight-through
    gradient clipped at 1 for the inputs (``STESign``) and the weights (``SignWeight``), no
    scale computed from either. Every argument of :class:`BinaryConv2d` is honoured (BiBench's
    layer ignores dilation, groups and bias).

    Args:
        scale_factors (Sequence[str]): The factorisation of ``Gamma``, as
            :class:`FactorisedScale`'s ``factors``. Default: ``('c', 'h', 'w')``.
        scale_max_size (int): Length of the spatial factors. Default: 2000.
        **kwargs: The arguments of :class:`BinaryConv2d`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size,
                 act_binarizer: Optional[dict] = dict(type='STESign'),
                 weight_binarizer: Optional[dict] = dict(type='SignWeight'),
                 scale_factors: Sequence[str] = ('c', 'h', 'w'), scale_max_size: int = 2000,
                 **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, act_binarizer=act_binarizer,
                         weight_binarizer=weight_binarizer, **kwargs)
        self.output_scale = FactorisedScale(out_channels, scale_factors, scale_max_size)

    def forward(self, x: torch.Tensor, num_shared_bases: Optional[int] = None) -> torch.Tensor:
        return self.output_scale(super().forward(x, num_shared_bases))
