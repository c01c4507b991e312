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


class ActivationBinarizer(BaseBinarizer):
    """Quantises the input activations of a binary layer."""


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
