"""ReActNet's learnable shifts: ``LearnableBias`` and ``RPReLU``."""
import torch
from torch import nn

from mmbnn.registry import MODELS

__all__ = ['LearnableBias', 'RPReLU']


def _per_channel(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Shape a (C,) parameter to broadcast over dim 1 of ``x`` (N, C, ...)."""
    return p.view(1, -1, *([1] * (x.dim() - 2)))


@MODELS.register_module()
class LearnableBias(nn.Module):
    """``y = x + b_c``, one learned shift per channel (ReActNet; Liu et al., 2020).

    Args:
        channels (int): Number of channels (dim 1 of the input).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _per_channel(self.bias, x)


@MODELS.register_module()
class RPReLU(nn.Module):
    """ReActNet's RPReLU: ``y = PReLU_c(x - gamma_c) + zeta_c``, all three per channel.

    Args:
        channels (int): Number of channels (dim 1 of the input); layers pass it.
        init_slope (float): Initial PReLU slope for x < gamma. Default: 0.25.
    """

    def __init__(self, channels: int, init_slope: float = 0.25):
        super().__init__()
        self.shift_in = LearnableBias(channels)
        self.prelu = nn.PReLU(channels, init=init_slope)
        self.shift_out = LearnableBias(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # shift_in adds b, so it holds -gamma; one module serves both shifts.
        return self.shift_out(self.prelu(self.shift_in(x)))
