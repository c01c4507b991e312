"""Activation binarizers: thin modules over :mod:`mmbnn.binarizers.functional`."""
import numbers
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.registry import MODELS
from .base import FULL_PRECISION_BITS, ActivationBinarizer
from .functional import (approx_sign, dorefa_quantize, ede_schedule, ede_sign, ede_slope,
                         ste_sign, swish_sign, swish_slope)
from .sign_grad import ApproxGrad, ClipGrad, FunctionGrad, IdentityGrad, sign_with

__all__ = ['STESign', 'IdentitySTESign', 'ApproxSign', 'SwishSign', 'EDEScheduleMixin',
           'EDESign', 'RSign', 'DoReFaActivation', 'FPProxy']


@MODELS.register_module()
class STESign(ActivationBinarizer):
    """Sign with the clipped straight-through estimator (BNN; Courbariaux et al., 2016).

    ``q(x) = +1 if x >= 0 else -1``; ``dq/dx = 1 if |x| <= clip_value else 0``. Saves a boolean
    mask for backward (nothing with ``clip_value=None``).

    Args:
        clip_value (float | None): Gradient clipping threshold; None for the plain identity STE.
            Default: 1.0.
    """

    def __init__(self, clip_value: Optional[float] = 1.0):
        super().__init__()
        if clip_value is not None and (isinstance(clip_value, bool) or not isinstance(
                clip_value, numbers.Real) or not clip_value > 0):
            raise ValueError(f'clip_value must be positive or None, got {clip_value}')
        self.clip_value = clip_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ste_sign(x, self.clip_value)

    def sign_grad(self):
        """A fused layer keeps the packed signs and, clipped, the packed mask: 1-2 bits."""
        return IdentityGrad() if self.clip_value is None else ClipGrad(self.clip_value)

    def extra_repr(self) -> str:
        return f'bits={self.bits}, clip_value={self.clip_value}'


@MODELS.register_module()
class IdentitySTESign(STESign):
    """Sign with the unclipped straight-through estimator (BinaryConnect; Courbariaux et al.,
    2015): ``STESign(clip_value=None)`` under a name that configs can use.

    ``q(x) = +1 if x >= 0 else -1``; ``dq/dx = 1``. Saves nothing for backward. No arguments.
    """

    def __init__(self):
        super().__init__(clip_value=None)


@MODELS.register_module()
class ApproxSign(ActivationBinarizer):
    """Sign with the piecewise-polynomial gradient of Bi-Real Net (Liu et al., ECCV 2018).

    ``q(x) = +1 if x >= 0 else -1``; ``dq/dx = 2 - 2|x| if |x| <= 1 else 0`` (the derivative of
    ``2x + x^2`` on [-1, 0), ``2x - x^2`` on [0, 1]). Saves the input for backward (32 bits per
    element; a fused binary layer keeps nothing else), or with ``saved_bits`` the packed signs
    and ``|x|`` in ``2^saved_bits - 1`` levels (:class:`~mmbnn.binarizers.sign_grad.ApproxGrad`).

    Args:
        saved_bits (int, optional): None: keep the float input, the exact gradient. 8 or 16:
            keep ``|x|`` rounded to 255 or 32767 levels on [0, 1] (1 + 8 or 1 + 16 bits per
            element), the slope off by at most 1/255 or 1/32767. Default: None.
    """

    def __init__(self, saved_bits: Optional[int] = None):
        super().__init__()
        self._rule = ApproxGrad(saved_bits)  # checks saved_bits
        self.saved_bits = saved_bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.saved_bits is None:
            return approx_sign(x)
        return sign_with(x, self._rule)

    def sign_grad(self):
        return self._rule

    def extra_repr(self) -> str:
        return f'bits={self.bits}' + (f', saved_bits={self.saved_bits}' if self.saved_bits
                                      else '')


@MODELS.register_module()
class SwishSign(ActivationBinarizer):
    """Sign with the SignSwish gradient of BNN+ (Darabi et al., 2018), as larq's ``swish_sign``.

    ``q(x) = +1 if x >= 0 else -1``;
    ``dq/dx = beta (2 - beta x tanh(beta x / 2)) / (1 + cosh(beta x))``, the derivative of
    ``2 sigmoid(beta x)(1 + beta x (1 - sigmoid(beta x))) - 1``. Saves the input for backward.

    Args:
        beta (float): Sharpness; larger values approach the derivative of sign. Default: 5.0.
    """

    def __init__(self, beta: float = 5.0):
        super().__init__()
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta > 0:
            raise ValueError(f'beta must be positive, got {beta}')
        self.beta = float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swish_sign(x, self.beta)

    def sign_grad(self):
        return FunctionGrad(lambda x: swish_slope(x, self.beta))

    def extra_repr(self) -> str:
        return f'bits={self.bits}, beta={self.beta}'


class EDEScheduleMixin:
    """The annealed ``t`` and ``k`` of IR-Net's Error Decay Estimator, for an ``nn.Module``.

    ``t = t_min 10^(p log10(t_max / t_min))`` and ``k = max(1 / t, 1)`` for training progress
    ``p`` in [0, 1]; both are 0-d float32 buffers (in the state dict, moved with the module).
    :class:`mmbnn.engine.EDEHook` calls :meth:`set_progress` on every module of the model with
    ``has_ede_schedule`` true. Subclasses call :meth:`_init_ede_schedule` after
    ``nn.Module.__init__``; until then (or if they never do) the schedule is off.
    """
    t: torch.Tensor
    k: torch.Tensor

    def _init_ede_schedule(self, t_min: float, t_max: float) -> None:
        if not 0 < t_min <= t_max:
            raise ValueError(f'EDE needs 0 < t_min <= t_max, got t_min={t_min}, t_max={t_max}')
        self.t_min, self.t_max = float(t_min), float(t_max)
        t, k = ede_schedule(0.0, self.t_min, self.t_max)
        self.register_buffer('t', torch.tensor(t))
        self.register_buffer('k', torch.tensor(k))

    @property
    def has_ede_schedule(self) -> bool:
        return isinstance(getattr(self, 't', None), torch.Tensor)

    def set_progress(self, progress: float) -> None:
        """Set ``t`` and ``k`` for training progress ``progress`` in [0, 1] (in place)."""
        if not self.has_ede_schedule:
            raise RuntimeError(f'{type(self).__name__} has no EDE schedule')
        t, k = ede_schedule(float(progress), self.t_min, self.t_max)
        self.t.fill_(t)
        self.k.fill_(k)


@MODELS.register_module()
class EDESign(EDEScheduleMixin, ActivationBinarizer):
    """Sign with the Error Decay Estimator of IR-Net (Qin et al., CVPR 2020).

    ``q(x) = +1 if x >= 0 else -1``; ``dq/dx = k t (1 - tanh^2(t x))`` with
    ``t = t_min 10^(p log10(t_max / t_min))``, ``k = max(1 / t, 1)`` and ``p`` the training
    progress (epoch / epochs in IR-Net), set by :class:`mmbnn.engine.EDEHook` through
    :meth:`set_progress`; ``p = 0`` until then. Saves the input (and the 0-d ``t``, ``k``).

    Args:
        t_min (float): ``t`` at the start of training. Default: 0.1 (the paper; the official
            CIFAR-10 ResNet-20 code uses 1e-3).
        t_max (float): ``t`` at the end of training. Default: 10.0.
    """

    def __init__(self, t_min: float = 0.1, t_max: float = 10.0):
        super().__init__()
        self._init_ede_schedule(t_min, t_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ede_sign(x, self.t, self.k)

    def sign_grad(self):
        return FunctionGrad(lambda x: ede_slope(x, self.t.to(x), self.k.to(x)))

    def extra_repr(self) -> str:
        return f'bits={self.bits}, t_min={self.t_min}, t_max={self.t_max}'


@MODELS.register_module()
class RSign(ActivationBinarizer):
    """Sign with a learnable threshold per channel (ReActNet; Liu et al., ECCV 2020).

    ``q(x) = sign(x - b_c)`` (+1 where ``x = b_c``), with ``dq/dx = 2 - 2|x - b_c|`` where
    ``|x - b_c| <= 1``, 0 elsewhere (ApproxSign through ``x - b``, as the official code), and
    ``dq/db_c = -dq/dx``. The channel dimension is dim 1: works on ``(N, C, H, W)`` inputs of
    convolutions and ``(N, C)`` inputs of linear layers. ``b`` is the Parameter ``bias`` of shape
    ``(1, C, 1, 1)``, initialised to 0; it is named ``bias`` so that mmengine's
    ``paramwise_cfg=dict(bias_decay_mult=0)`` exempts it from weight decay as ReActNet does.
    (ReActNet writes ``sign(x + b)``; the sign of ``b`` is a convention.) Saves ``x - b``.

    Args:
        channels (int): Number of input channels C; binary layers pass it automatically.
    """

    def __init__(self, channels: int):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f'channels must be a positive int, got {channels!r}')
        self.channels = channels
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.size(1) != self.channels:
            raise ValueError(f'RSign(channels={self.channels}) expects inputs of shape '
                             f'(N, {self.channels}, ...), got {tuple(x.shape)}')
        bias = self.bias.view(1, self.channels, *([1] * (x.dim() - 2)))
        return approx_sign(x - bias)

    def sign_grad(self):
        return ApproxGrad()

    def threshold(self):
        return self.bias.view(1, self.channels, 1, 1)

    def extra_repr(self) -> str:
        return f'bits={self.bits}, channels={self.channels}'


@MODELS.register_module()
class DoReFaActivation(ActivationBinarizer):
    """k-bit activation quantiser of DoReFa-Net (Zhou et al., 2016).

    ``q(x) = round(clamp(x, 0, 1) (2^k - 1)) / (2^k - 1)`` (round half to even);
    ``dq/dx = 1 if 0 <= x <= 1 else 0``. Saves a boolean mask for backward.

    Args:
        bits (int): Bit width k >= 1. Default: 2.
    """

    def __init__(self, bits: int = 2):
        super().__init__()
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f'bits must be an int >= 1, got bits={bits!r}')
        self.bits = bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dorefa_quantize(x, self.bits)


@MODELS.register_module()
class FPProxy(ActivationBinarizer):
    """A smooth full-precision stand-in for sign, for Group-Net's first training stage (Zhuang
    et al., CVPR 2019): train with ``tanh`` (or ``hardtanh``), then fine-tune with a binarizer.

    ``q(x) = tanh(x)`` with ``dq/dx = 1 - tanh^2(x)``, or ``q(x) = clamp(x, -1, 1)`` with
    ``dq/dx = 1 if |x| <= 1 else 0`` (PyTorch's hardtanh: 0 at |x| = 1 exactly). Exact autograd;
    ``bits`` is 32.

    Args:
        kind (str): ``'tanh'`` or ``'hardtanh'``. Default: ``'tanh'``.
    """
    bits = FULL_PRECISION_BITS
    _KINDS = ('tanh', 'hardtanh')

    def __init__(self, kind: str = 'tanh'):
        super().__init__()
        if kind not in self._KINDS:
            raise ValueError(f'kind must be one of {self._KINDS}, got kind={kind!r}')
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) if self.kind == 'tanh' else F.hardtanh(x)

    def extra_repr(self) -> str:
        return f'bits={self.bits}, kind={self.kind!r}'
