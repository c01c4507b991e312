"""Per-base activation thresholds for K binary bases (ABC-Net-style shifted signs)."""
from typing import Optional, Sequence

import torch
from torch import nn

from mmbnn.registry import MODELS
from .activation import RSign

__all__ = ['BaseShiftSign', 'default_base_shifts']


def default_base_shifts(num_bases: int, spread: float = 0.5) -> tuple:
    """K thresholds spread evenly over ``[-spread, spread]`` (``(0.0, )`` for K = 1)."""
    if num_bases == 1:
        return (0.0, )
    return tuple(-spread + 2 * spread * k / (num_bases - 1) for k in range(num_bases))


@MODELS.register_module()
class BaseShiftSign(RSign):
    """Sign with one threshold per base and channel, for the K bases of a Group-Net layer.

    ``q(x) = sign(x - b_c)`` with ApproxSign's gradient, exactly :class:`RSign`, but over an input
    that holds K bases base-major (``channels = K * C``: channels ``[k C, (k+1) C)`` belong to base
    k) and with the thresholds of base k starting at ``shifts[k]`` instead of 0.

    Why: where the K bases of a layer binarize the same real input with the same threshold,
    ``sum_k lambda_k conv(sign(x), W_k) = conv(sign(x), sum_k lambda_k W_k)``: the K binary bases
    are one conv with a multi-bit weight on a 1-bit input, and bases copied from one
    full-precision model receive the same updates. Distinct thresholds give each base its own
    1-bit view of the input, as ABC-Net's shifted binarizations ``H_v(x) = sign(x + v_k)``
    (Lin et al., NeurIPS 2017) do, and break the symmetry between bases from the first step.
    With ``learnable=True`` the thresholds are a Parameter named ``bias`` (learned per channel,
    as ReActNet's RSign; exempt from weight decay with ``bias_decay_mult=0``); otherwise a buffer.

    Args:
        channels (int): K * C; binary layers pass it automatically.
        num_bases (int): K. Default: 1.
        shifts (Sequence[float], optional): The K initial thresholds, in units of the input
            (Group-Net's binary convs follow a BN, so about one standard deviation is 1).
            Default: None, K values evenly spread over [-0.5, 0.5]
            (:func:`default_base_shifts`).
        learnable (bool): Learn the thresholds. Default: True.
    """

    def __init__(self, channels: int, num_bases: int = 1,
                 shifts: Optional[Sequence[float]] = None, learnable: bool = True):
        super().__init__(channels)
        if not isinstance(num_bases, int) or isinstance(num_bases, bool) or num_bases < 1:
            raise ValueError(f'num_bases must be an int >= 1, got {num_bases!r}')
        if channels % num_bases:
            raise ValueError(f'BaseShiftSign: channels ({channels}) must be a multiple of '
                             f'num_bases ({num_bases}): K bases of C channels each')
        shifts = default_base_shifts(num_bases) if shifts is None else tuple(shifts)
        if len(shifts) != num_bases or not all(isinstance(s, (int, float)) for s in shifts):
            raise ValueError(f'shifts needs one number per base (num_bases={num_bases}), got '
                             f'{shifts!r}')
        self.num_bases = num_bases
        self.shifts = tuple(float(s) for s in shifts)
        init = torch.tensor(self.shifts).repeat_interleave(channels // num_bases)
        del self.bias
        if learnable:
            self.bias = nn.Parameter(init.view(1, channels, 1, 1))
        else:
            self.register_buffer('bias', init.view(1, channels, 1, 1))
        self.learnable = learnable

    def extra_repr(self) -> str:
        return (f'bits={self.bits}, channels={self.channels}, num_bases={self.num_bases}, '
                f'shifts={self.shifts}, learnable={self.learnable}')
