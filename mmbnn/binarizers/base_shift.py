"""Per-base activation thresholds for K binary bases (ABC-Net-style shifted signs)."""
from typing import Optional, Sequence

import torch
from torch import nn

from mmbnn.registry import MODELS
from .activation import FPProxy, RSign
from .base import FULL_PRECISION_BITS

__all__ = ['BaseShiftSign', 'BaseShiftProxy', 'default_base_shifts']


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


@MODELS.register_module()
class BaseShiftProxy(BaseShiftSign):
    """:class:`BaseShiftSign`'s per-base thresholds on a smooth full-precision stand-in for sign:
    ``q(x) = tanh(x - b_c)`` (or ``hardtanh``, as :class:`~mmbnn.binarizers.FPProxy`), for stage 1
    of Group-Net's two-stage recipe.

    Stage 1 trains the K-base network with tanh activations and real weights. Where the K bases
    of a layer-wise K-base conv share their input, one tanh for all of them makes
    ``sum_k lambda_k conv(tanh(x), W_k) = conv(tanh(x), sum_k lambda_k W_k)``: one real conv, whose
    K weights are not K separately useful bases, so stage 2 would binarize K arbitrary parts of
    one weight. With a threshold per base, ``sum_k lambda_k conv(tanh(x - b_k), W_k)`` is a K-term
    network whose terms stage 2 binarizes one by one (``sign(x - b_k)``, ``sign(W_k)``): the
    parameter is named ``bias`` as in :class:`BaseShiftSign`, so a stage-1 checkpoint loads its
    learned thresholds into the stage-2 binarizer key for key. Exact autograd (the gradient of
    ``tanh``); ``bits`` is 32.

    Args:
        channels, num_bases, shifts, learnable: As :class:`BaseShiftSign`.
        kind (str): ``'tanh'`` or ``'hardtanh'``. Default: ``'tanh'``.
    """
    bits = FULL_PRECISION_BITS

    def __init__(self, channels: int, num_bases: int = 1,
                 shifts: Optional[Sequence[float]] = None, learnable: bool = True,
                 kind: str = 'tanh'):
        super().__init__(channels, num_bases=num_bases, shifts=shifts, learnable=learnable)
        self.proxy = FPProxy(kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.size(1) != self.channels:
            raise ValueError(f'{type(self).__name__}(channels={self.channels}) expects inputs of '
                             f'shape (N, {self.channels}, ...), got {tuple(x.shape)}')
        return self.proxy(x - self.bias.view(1, self.channels, *([1] * (x.dim() - 2))))

    def extra_repr(self) -> str:
        return super().extra_repr() + f', kind={self.proxy.kind!r}'
