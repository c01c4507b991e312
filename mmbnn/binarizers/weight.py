"""Weight binarizers: thin modules over :mod:`mmbnn.binarizers.functional`.

Every 1-bit binarizer here computes its forward pass as ``signs * scale`` from the very tensors
that :meth:`binary_parts` returns, so that ``forward(w)`` and ``signs * scale (+ offset)`` are
bitwise equal. Those of the form ``signs * scale`` (all but DoReFa's, whose gradient skips the
scale) also give the two factors with their gradients (:meth:`~WeightBinarizer.split`), which
binary layers use to apply the scale after the convolution. Weights are ``(C_out, ...)``: ``(C_out, C_in / groups, kH, kW)`` for convolutions,
``(C_out, C_in)`` for linear layers; "per output channel" reduces over every dim but the first.
"""
import numbers
from typing import Optional

import torch
from torch import nn

from mmbnn.registry import MODELS
from .activation import EDEScheduleMixin
from .base import WeightBinarizer
from .functional import (clipped_ste, ede_sign, group_mean_abs, mean_abs_scaled_sign,
                         quantize_k, sign, sign_mean_abs, ste_sign)

__all__ = ['SignWeight', 'XNORWeight', 'LayerScaleWeight', 'IRNetWeight', 'LearnedScaleWeight',
           'DoReFaWeight']


def _channel_dims(w: torch.Tensor):
    return tuple(range(1, w.dim()))


def _channel_view(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A ``(C_out,)`` tensor viewed as ``(C_out, 1, ...)`` to broadcast against ``w``."""
    return v.view(-1, *([1] * (w.dim() - 1)))


@MODELS.register_module()
class SignWeight(WeightBinarizer):
    """Plain sign of the weights, no scale (BNN; Courbariaux et al., 2016).

    ``q(w) = +1 if w >= 0 else -1``; ``dq/dw = 1 if |w| <= clip_value else 0``. A latent
    weight pushed past ``clip_value`` gets no gradient again and freezes, so BNN (and larq's
    ``weight_clip`` constraint) also clip the latent weights back to ``[-clip_value,
    clip_value]`` after every update: ``clamp`` is ``clip_value``, and
    :class:`mmbnn.engine.LatentClampHook` (``custom_hooks=[dict(type='mmbnn.LatentClampHook')]``)
    applies it. Saves a boolean mask (nothing with ``clip_value=None``).
    ``binary_parts``: ``(sign(w), 1, None)``.

    Args:
        clip_value (float | None): Gradient clipping threshold, and the bound of the latent
            weights; None for the identity STE (no bound). Default: 1.0.
    """
    rowwise = True

    def __init__(self, clip_value: Optional[float] = 1.0):
        super().__init__()
        if clip_value is not None and (isinstance(clip_value, bool) or not isinstance(
                clip_value, numbers.Real) or not clip_value > 0):
            raise ValueError(f'clip_value must be positive or None, got {clip_value}')
        self.clip_value = clip_value

    @property
    def clamp(self) -> Optional[float]:
        """The bound of the latent weights: ``clip_value``."""
        return self.clip_value

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return ste_sign(w, self.clip_value)

    def split(self, w):
        return ste_sign(w, self.clip_value), None

    def binary_parts(self, w):
        return sign(w), w.new_ones(()), None

    def extra_repr(self) -> str:
        return f'bits={self.bits}, clip_value={self.clip_value}'


@MODELS.register_module()
class XNORWeight(WeightBinarizer):
    """Sign with one scale per output channel, alpha_c = mean |w_c| (XNOR-Net; Rastegari et al.,
    2016).

    ``q(w) = alpha_c sign(w)``; the sign passes the identity straight-through gradient, the scale
    its exact gradient: ``dL/dw = alpha_c g + d|w|/dw / n_c sum_c(g sign(w))`` (``n_c`` weights
    per channel; ``d|w|/dw`` is 0 at ``w = 0``, as ``torch.abs``), in one autograd function
    (:func:`~mmbnn.binarizers.functional.mean_abs_scaled_sign`), which saves the signs.
    ``binary_parts``: ``(sign(w), alpha, None)``, ``alpha`` of shape ``(C_out, 1, ...)``.
    No arguments.
    """
    rowwise = True

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return mean_abs_scaled_sign(w, w.shape[0])

    def split(self, w):
        return sign_mean_abs(w, w.shape[0])

    def mean_abs_groups(self, w):
        return w.shape[0]

    def binary_parts(self, w):
        return sign(w), _channel_view(group_mean_abs(w, w.shape[0]), w), None


@MODELS.register_module()
class LayerScaleWeight(WeightBinarizer):
    """Sign with a single scale for the whole layer, alpha = mean |w| (Group-Net's official
    code; Zhuang et al., CVPR 2019).

    ``q(w) = alpha sign(w)``; identity straight-through gradient for the sign, exact gradient
    for the scale: ``dL/dw = alpha g + d|w|/dw / N sum(g sign(w))`` (``d|w|/dw = 0`` at 0), in
    one autograd function (:func:`~mmbnn.binarizers.functional.mean_abs_scaled_sign`).
    With ``num_bases=K`` the weight holds the K bases of a Group-Net layer base-major (output
    channels ``[k C_out/K, (k+1) C_out/K)`` are base k, as in a grouped K-base conv) and each
    base gets its own alpha_k = mean |w_k|: one scale per layer of every base, as the official
    code's separate per-base convs have.
    ``binary_parts``: ``(sign(w), alpha, None)``, ``alpha`` 0-d, or ``(K, 1, ...)`` expanded to
    ``(C_out, 1, ...)`` with ``num_bases > 1``.

    Args:
        num_bases (int): K, the bases stacked along the output channels. Default: 1.
    """

    def __init__(self, num_bases: int = 1):
        super().__init__()
        if not isinstance(num_bases, int) or isinstance(num_bases, bool) or num_bases < 1:
            raise ValueError(f'num_bases must be an int >= 1, got {num_bases!r}')
        self.num_bases = num_bases

    def _check(self, w: torch.Tensor) -> None:
        if w.shape[0] % self.num_bases:
            raise ValueError(f'LayerScaleWeight(num_bases={self.num_bases}) needs the output '
                             f'channels ({w.shape[0]}) to be a multiple of num_bases')

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        self._check(w)
        return mean_abs_scaled_sign(w, self.num_bases)

    def mean_abs_groups(self, w):
        self._check(w)
        return self.num_bases

    def split(self, w):
        self._check(w)
        signs, alpha = sign_mean_abs(w, self.num_bases)
        if self.num_bases == 1:
            return signs, alpha.view(())
        return signs, alpha.repeat_interleave(w.shape[0] // self.num_bases)

    def chunks(self, w, num_chunks):
        """Base by base when the chunks are the K bases (each its own per-layer scale)."""
        if num_chunks != self.num_bases:
            return super().chunks(w, num_chunks)
        self._check(w)
        return [mean_abs_scaled_sign(c, 1) for c in w.chunk(num_chunks)]

    def binary_parts(self, w):
        self._check(w)
        per_base = group_mean_abs(w, self.num_bases)
        if self.num_bases == 1:
            return sign(w), per_base.view(()), None
        return sign(w), _channel_view(per_base.repeat_interleave(
            w.shape[0] // self.num_bases), w), None

    def extra_repr(self) -> str:
        return f'bits={self.bits}, num_bases={self.num_bases}'


@MODELS.register_module()
class IRNetWeight(EDEScheduleMixin, WeightBinarizer):
    """Libra Parameter Binarization of IR-Net (Qin et al., CVPR 2020).

    Per output channel c: ``w_std = (w - mean_c(w)) / std_c(w)`` (unbiased std, as
    ``torch.std``), ``s_c = 2^round(log2(mean_c |w_std|))`` and ``q(w) = s_c sign(w_std)``.
    The scale is a constant (detached, as in the official code); the gradient flows exactly
    through the standardisation and, through the sign, by the identity STE
    (``gradient='identity'``) or by IR-Net's EDE ``k t (1 - tanh^2(t w_std))``
    (``gradient='ede'``, as the official code; ``t`` and ``k`` are buffers annealed by
    :class:`mmbnn.engine.EDEHook`). ``binary_parts``: ``(sign(w_std), s, None)``.

    Args:
        gradient (str): ``'identity'`` or ``'ede'``. Default: ``'identity'``.
        t_min (float, optional): EDE's ``t`` at the start of training; only with
            ``gradient='ede'`` (with ``'identity'`` it would do nothing, so it is refused).
            Default: 0.1 with ``'ede'``.
        t_max (float, optional): EDE's ``t`` at the end of training; only with
            ``gradient='ede'``. Default: 10.0 with ``'ede'``.
    """
    rowwise = True
    _GRADIENTS = ('identity', 'ede')

    def __init__(self, gradient: str = 'identity', t_min: Optional[float] = None,
                 t_max: Optional[float] = None):
        super().__init__()
        if gradient not in self._GRADIENTS:
            raise ValueError(f'gradient must be one of {self._GRADIENTS}, '
                             f'got gradient={gradient!r}')
        self.gradient = gradient
        if gradient == 'ede':
            self._init_ede_schedule(0.1 if t_min is None else t_min,
                                    10.0 if t_max is None else t_max)
        elif t_min is not None or t_max is not None:
            raise ValueError(f"IRNetWeight(gradient='identity') has no EDE schedule: t_min and "
                             f"t_max act only with gradient='ede' (got t_min={t_min}, "
                             f't_max={t_max})')

    @staticmethod
    def _standardise(w: torch.Tensor):
        """``(w_std, scale)``; the scale is computed without gradient."""
        dims = _channel_dims(w)
        n = w[0].numel()
        if n < 2:
            raise ValueError(f'IRNetWeight needs at least 2 weights per output channel to '
                             f'standardise them, got weight shape {tuple(w.shape)}')
        w_std = w - w.mean(dim=dims, keepdim=True)
        w_std = w_std / w_std.std(dim=dims, keepdim=True)
        with torch.no_grad():
            scale = torch.exp2(torch.round(torch.log2(w_std.abs().mean(dim=dims, keepdim=True))))
        return w_std, scale

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        signs, scale = self._signs_and_scale(w)
        return signs * scale

    def _signs_and_scale(self, w: torch.Tensor):
        w_std, scale = self._standardise(w)
        if self.gradient == 'ede':
            return ede_sign(w_std, self.t, self.k), scale
        return ste_sign(w_std, None), scale

    def split(self, w):
        signs, scale = self._signs_and_scale(w)
        return signs, scale.reshape(-1)

    def binary_parts(self, w):
        w_std, scale = self._standardise(w)
        return sign(w_std), scale, None

    def extra_repr(self) -> str:
        s = f'bits={self.bits}, gradient={self.gradient!r}'
        if self.gradient == 'ede':
            s += f', t_min={self.t_min}, t_max={self.t_max}'
        return s


@MODELS.register_module()
class LearnedScaleWeight(WeightBinarizer):
    """Sign with a learned scale per output channel (XNOR-Net++-style; Bulat and Tzimiropoulos,
    BMVC 2019, weight-only factor).

    ``q(w) = alpha_c sign(w)`` with ``alpha`` a Parameter of shape ``(C_out,)``, viewed as
    ``(C_out, 1, ...)`` to fit conv ``(C_out, C_in, kH, kW)`` and linear ``(C_out, C_in)`` weights.
    ``dL/dw = alpha_c g`` (identity STE), ``dL/dalpha_c = sum_c(g sign(w))``. ``alpha`` starts at
    ``init_value`` (the following BN absorbs the overall scale); it is not re-initialised from
    the weights. ``binary_parts``: ``(sign(w), alpha, None)``.

    Args:
        channels (int): Number of output channels C_out; binary layers pass it automatically.
        init_value (float): Initial value of every alpha_c. Default: 1.0.
    """

    def __init__(self, channels: int, init_value: float = 1.0):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f'channels must be a positive int, got {channels!r}')
        self.channels = channels
        self.scale = nn.Parameter(torch.full((channels, ), float(init_value)))

    def _scale(self, w: torch.Tensor) -> torch.Tensor:
        if w.size(0) != self.channels:
            raise ValueError(f'LearnedScaleWeight(channels={self.channels}) got a weight with '
                             f'{w.size(0)} output channels')
        return _channel_view(self.scale, w)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return ste_sign(w, None) * self._scale(w)

    def split(self, w):
        self._scale(w)  # checks the channels
        return ste_sign(w, None), self.scale

    def binary_parts(self, w):
        return sign(w), self._scale(w), None

    def extra_repr(self) -> str:
        return f'bits={self.bits}, channels={self.channels}'


def _dorefa_sign(w: torch.Tensor) -> torch.Tensor:
    return sign(w) * w.abs().mean()


@MODELS.register_module()
class DoReFaWeight(WeightBinarizer):
    """k-bit weight quantiser of DoReFa-Net (Zhou et al., 2016).

    ``bits = 1``: ``q(w) = sign(w) E(|w|)`` (E the mean over the whole layer), with
    ``dq/dw = 1`` (the paper's and official code's straight-through gradient; the scale gets
    none). Saves nothing. ``binary_parts``: ``(sign(w), E(|w|), None)``.

    ``bits = k > 1``: ``w_t = tanh(w) / (2 max|tanh(w)|) + 1/2``, ``q(w) = 2 quantize_k(w_t) - 1``
    with ``quantize_k(v) = round(v (2^k - 1)) / (2^k - 1)``; straight-through through ``round``,
    exact gradient through ``tanh`` and the max (as the official code). No ``binary_parts``.

    Args:
        bits (int): Bit width k >= 1. Default: 1.
    """

    def __init__(self, bits: int = 1):
        super().__init__()
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f'bits must be an int >= 1, got bits={bits!r}')
        self.bits = bits

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.bits == 1:
            return clipped_ste(w, _dorefa_sign)
        t = torch.tanh(w)
        t = t / (2 * t.abs().max()) + 0.5
        return 2 * clipped_ste(t, lambda v: quantize_k(v, self.bits)) - 1

    def binary_parts(self, w):
        if self.bits != 1:
            return super().binary_parts(w)
        return sign(w), w.abs().mean(), None
