"""The weight binarizer of a layer loaded from a packed 1-bit checkpoint."""
from typing import Optional

import torch

from mmbnn.registry import MODELS
from .base import WeightBinarizer
from .functional import sign

__all__ = ['PackedBinaryWeight', 'PACKED_BINARIZER_KEYS', 'load_packed_binarizer']

#: State-dict keys (under a layer's prefix) of the frozen binarizer of a packed layer.
PACKED_BINARIZER_KEYS = ('weight_binarizer.packed_scale', 'weight_binarizer.packed_offset',
                         'weight_binarizer.packed_mask', 'weight_binarizer.packed_words')



@MODELS.register_module()
class PackedBinaryWeight(WeightBinarizer):
    """A frozen 1-bit weight binarizer: ``q(w) = w``.

    :func:`mmbnn.deploy.load_packed` rebuilds a binary layer's effective weight
    ``signs * scale (+ offset)`` from a packed checkpoint, stores it as the layer's ``weight`` and
    gives the layer this binarizer, so that the layer computes with exactly that weight. The
    original binarizer cannot be kept: not every binarizer gives back its own output (IR-Net's
    standardisation does not), so re-binarizing the effective weight would change it.

    ``bits = 1``: the weight takes two values per scale entry. ``binary_parts`` splits it again
    when the parts it was rebuilt from are given (as :func:`~mmbnn.deploy.load_packed` does), so a
    loaded model packs again to the same bits; it checks that the parts rebuild ``w`` exactly.
    A packed model is for inference: in training mode, with a gradient to compute, it raises
    (instead of silently training the rebuilt weights as float weights).

    A sparse layer packed with a mask (:class:`~mmbnn.binarizers.PrunedSignWeight`) also gets its
    boolean ``mask``: its weight is ``signs * scale * mask (+ offset)``, split again by
    :meth:`sparse_parts` (signs +1 where the mask is 0).

    Args:
        scale (Tensor, optional): The scale the weight was rebuilt with (a non-persistent buffer).
            Default: None.
        offset (Tensor, optional): Its offset, if any (a non-persistent buffer). Default: None.
        mask (Tensor, optional): Its boolean mask of kept weights, if any (a non-persistent
            buffer). Default: None.
        words (Tensor, optional): The signs as the packed file holds them, in the 1-bit
            kernels' layout (:func:`mmbnn.deploy.packing.sign_words`; a non-persistent buffer):
            :func:`mmbnn.deploy.convert` hands them to the kernels as they are. Default: None.
    """

    def __init__(self, scale: Optional[torch.Tensor] = None,
                 offset: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None,
                 words: Optional[torch.Tensor] = None):
        super().__init__()
        if scale is None and (offset is not None or mask is not None):
            raise ValueError('PackedBinaryWeight: an offset or a mask needs a scale')
        self.register_buffer('scale', None if scale is None else scale.detach().clone(),
                             persistent=False)
        self.register_buffer('offset', None if offset is None else offset.detach().clone(),
                             persistent=False)
        self.register_buffer('mask', None if mask is None else mask.detach().bool().clone(),
                             persistent=False)
        self.register_buffer('words', None if words is None else words.detach().clone(),
                             persistent=False)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled() and w.requires_grad:
            raise RuntimeError(
                'this layer holds weights loaded from a packed 1-bit checkpoint (signs and scales '
                'only: the latent float weights are not in it), which are for inference; training '
                'would update them as float weights. Evaluate it in eval mode, or fine-tune from '
                'the float checkpoint the packed one was made from')
        return w

    def split(self, w):
        """``(signs, scale)`` with ``signs * scale == w`` bit for bit, for a weight rebuilt as
        ``signs * scale`` with one scale per output channel or one for the layer (no offset, no
        mask), so that a binary layer scales after its convolution as it did before packing;
        else None. For inference: raises in training, as :meth:`forward`."""
        self.forward(w)
        scale = self.scale
        if scale is None or self.offset is not None or self.mask is not None:
            return None
        if scale.numel() == 1:
            return sign(w) * sign(scale), scale.reshape(())
        if scale.numel() != w.shape[0] or scale.shape[0] != w.shape[0]:
            return None
        return sign(w) * sign(scale), scale.reshape(-1)

    def sparse_parts(self, w):
        """``(signs, mask, scale, offset)``, ``mask`` None without one; checks that they rebuild
        ``w`` exactly."""
        if self.scale is None:
            raise NotImplementedError('PackedBinaryWeight was built without its scale: it cannot '
                                      'split the weight into signs and scales')
        centred = w if self.offset is None else w - self.offset
        signs = sign(centred) * sign(self.scale)
        rebuilt = signs * self.scale
        if self.mask is not None:
            signs = torch.where(self.mask, signs, torch.ones_like(signs))
            rebuilt = signs * self.scale * self.mask.to(w.dtype)
        if self.offset is not None:
            rebuilt = rebuilt + self.offset
        if rebuilt.shape != w.shape or not torch.equal(rebuilt, w):
            raise ValueError('PackedBinaryWeight: the weight is not signs * scale (* mask) '
                             '(+ offset) of the parts this binarizer holds')
        return signs, self.mask, self.scale, self.offset

    def binary_parts(self, w):
        signs, mask, scale, offset = self.sparse_parts(w)
        return signs, scale if mask is None else scale * mask.to(w.dtype), offset

    def extra_repr(self) -> str:
        return (f'bits={self.bits}, offset={self.offset is not None}, '
                f'mask={self.mask is not None}')


def load_packed_binarizer(module: torch.nn.Module, state_dict, prefix, *args) -> None:
    """Load-state-dict pre-hook of every binary layer: consume the :data:`PACKED_BINARIZER_KEYS`
    of this prefix, if any (a packed checkpoint made loadable by
    :func:`mmbnn.deploy.loadable_state_dict`), and give the layer the
    :class:`PackedBinaryWeight` they describe (on its weight's device). Ordinary checkpoints carry
    no such keys: the hook does nothing."""
    if prefix + PACKED_BINARIZER_KEYS[0] not in state_dict:
        return
    scale, offset, mask, words = (state_dict.pop(prefix + k, None)
                                  for k in PACKED_BINARIZER_KEYS)
    binarizer = PackedBinaryWeight(scale, offset, mask=mask, words=words).to(module.weight.device)
    old = getattr(module, 'weight_binarizer', None)
    if hasattr(old, '_params_init_info'):  # mid init_weights (Pretrained): mmengine deletes it
        binarizer._params_init_info = old._params_init_info
    module.weight_binarizer = binarizer
