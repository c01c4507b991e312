"""The interface every binarizer implements, and the builder that layers use."""
from typing import List, Optional, Tuple, Union

import torch
from torch import nn

from mmbnn.registry import build_with_channels

__all__ = ['BaseBinarizer', 'ActivationBinarizer', 'WeightBinarizer', 'build_binarizer',
           'FULL_PRECISION_BITS']

FULL_PRECISION_BITS = 32


class BaseBinarizer(nn.Module):
    """A quantiser of a tensor to ``bits`` bits.

    Subclasses set the class attribute ``bits`` (1 for binarizers, k for k-bit quantisers,
    32 for full-precision proxies) or an instance attribute of that name; the model summary and the
    exporter read it. They implement ``forward`` through a small autograd function of
    :mod:`mmbnn.binarizers.functional`, never with a float copy of the input saved for backward
    when the surrogate gradient does not need it.
    """
    bits: int = 1

    def extra_repr(self) -> str:
        return f'bits={self.bits}'


def _same_owner(module: nn.Module, method: str) -> bool:
    """Whether the class that defines ``method`` for ``module`` also defines its ``forward`` (a
    subclass that overrides ``forward`` alone must not inherit a fused rule that no longer
    describes it), and no forward hook watches the module (a fused layer would bypass it)."""
    mro = type(module).__mro__
    owner = next(c for c in mro if method in vars(c))
    forward = next(c for c in mro if 'forward' in vars(c))
    return owner is forward and not (module._forward_hooks or module._forward_pre_hooks)


class ActivationBinarizer(BaseBinarizer):
    """Quantises the input activations of a binary layer.

    A sign binarizer (``q(x) = sign(x - b)``, values +-1) also implements :meth:`sign_grad`
    (and :meth:`threshold` where ``b`` is not 0), so that a fused binary layer
    (:mod:`mmbnn.layers.binary_conv_function`) can binarize, compute and keep for backward only
    the bits its gradient needs, without calling the module.
    """

    def sign_grad(self) -> Optional['SignGrad']:  # noqa: F821
        """The :class:`~mmbnn.binarizers.sign_grad.SignGrad` of ``dq/dx``, or None: the layer
        then calls the binarizer itself."""
        return None

    def threshold(self) -> Optional[torch.Tensor]:
        """``b`` of ``q(x) = sign(x - b)``, shaped ``(1, C, 1, 1)``, or None for 0."""
        return None

    def fused_sign_grad(self) -> Optional['SignGrad']:  # noqa: F821
        """:meth:`sign_grad`, if it describes this module's ``forward`` (see
        :func:`_same_owner`), else None."""
        return self.sign_grad() if _same_owner(self, 'sign_grad') else None


class WeightBinarizer(BaseBinarizer):
    """Quantises the weights of a binary layer (``forward(weight) -> effective weight``).

    A 1-bit weight binarizer also implements :meth:`binary_parts`, which splits the effective
    weight into signs and the real numbers that scale them, so that the exporter can store the
    signs as bits and rebuild the exact same weight.

    ``clamp`` (float or None) is the bound of the layer's latent weights: a binarizer whose
    gradient vanishes for ``|w| > clamp`` sets it, and :class:`mmbnn.engine.LatentClampHook`
    clamps the latent weights to ``[-clamp, clamp]`` after every optimizer step (BNN's and
    larq's weight constraint), so that no weight leaves the window and freezes there.
    """
    clamp: Optional[float] = None
    #: Whether the binarizer treats every output channel (row of dim 0) on its own, without
    #: statistics or parameters across rows: then :meth:`chunks` binarizes a weight chunk by chunk.
    rowwise: bool = False

    def chunks(self, weight: torch.Tensor, num_chunks: int) -> List[torch.Tensor]:
        """``forward(weight)`` split into ``num_chunks`` equal row chunks (the K bases of a
        Group-Net layer, base-major). A :attr:`rowwise` binarizer binarizes chunk by chunk, which
        gives the same values and keeps each pass over a large K-base weight in cache."""
        if self.rowwise:
            return [self(w) for w in weight.chunk(num_chunks)]
        return list(self(weight).chunk(num_chunks))

    def split(self, weight: torch.Tensor
              ) -> Optional[Tuple[torch.Tensor, Optional[torch.Tensor]]]:
        """``(signs, scale)`` with gradients, such that ``forward(weight) == signs * scale``
        (``scale`` of shape ``(C_out, )`` broadcast per output channel, a 0-d tensor, or None
        for 1) bit for bit and the gradients that reach ``weight`` through them are
        ``forward``'s; or None where the binarizer is not of that form. A binary layer then
        computes ``conv(x, signs) * scale``: integer sums of +-1, exact in float32 whatever the
        order of the sums (the CPU's instruction set, the threads), then one rounding."""
        return None

    def mean_abs_groups(self, weight: torch.Tensor) -> Optional[int]:
        """G where ``forward(weight) = sign(w) * alpha_g``, ``alpha_g = mean |w|`` over G equal
        groups of rows (XNOR-Net: G = C_out; one scale per base: G = K), with the identity STE
        through the sign and the exact gradient of the mean, else None. A fused binary layer
        then makes the signs and scales itself, base by base, and keeps nothing of the weight's
        size for backward."""
        return None

    def fused_mean_abs_groups(self, weight: torch.Tensor) -> Optional[int]:
        """:meth:`mean_abs_groups`, if it describes this module's ``forward`` (see
        :func:`_same_owner`), else None."""
        return self.mean_abs_groups(weight) if _same_owner(self, 'mean_abs_groups') else None

    def fused_split(self, weight: torch.Tensor
                    ) -> Optional[Tuple[torch.Tensor, Optional[torch.Tensor]]]:
        """:meth:`split`, if it describes this module's ``forward`` (see :func:`_same_owner`),
        else None."""
        return self.split(weight) if _same_owner(self, 'split') else None

    def binary_parts(self, weight: torch.Tensor
                     ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Return ``(signs, scale, offset)`` with ``signs`` in {-1, +1} (sign(0) = +1) and
        ``forward(weight) == signs * scale + offset`` (``offset`` may be None for 0); ``scale``
        and ``offset`` broadcast against ``weight``."""
        raise NotImplementedError(f'{type(self).__name__} is not a 1-bit weight binarizer')


def build_binarizer(cfg: Union[dict, None], channels: Optional[int] = None
                    ) -> Optional[BaseBinarizer]:
    """Build a binarizer from ``cfg``; ``None`` means full precision and returns ``None``.

    Args:
        cfg (dict | None): ``dict(type=..., **kwargs)`` naming a registered binarizer.
        channels (int, optional): Channel count passed to binarizers with per-channel
            parameters (those whose constructor takes ``channels``), unless the config sets it.

    Raises:
        KeyError: The type is not registered (the message names it). TypeError: The config is not a dict with a type,
        or the object built is not a binarizer.
    """
    if cfg is None:
        return None
    if isinstance(cfg, BaseBinarizer):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'A binarizer config must be a dict with a "type" key or None, '
                        f'got {cfg!r}')
    binarizer = build_with_channels(cfg, channels)
    if not isinstance(binarizer, BaseBinarizer):
        raise TypeError(f'{cfg["type"]!r} is not a binarizer (got {type(binarizer).__name__})')
    return binarizer
