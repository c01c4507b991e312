"""The weight constraint of BNN and larq: latent weights clamped back into the STE's window."""
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mmbnn.registry import HOOKS

__all__ = ['LatentClampHook', 'clamp_latent_weights', 'clamped_layers']


def clamped_layers(model: nn.Module) -> List[nn.Module]:
    """The binary layers of ``model`` whose weight binarizer bounds the latent weights (a
    ``clamp`` that is not None: :class:`~mmbnn.binarizers.SignWeight`, the sparse binarizers)."""
    return [m for m in model.modules()
            if isinstance(getattr(m, 'weight', None), torch.Tensor)
            and getattr(getattr(m, 'weight_binarizer', None), 'clamp', None) is not None]


@torch.no_grad()
def clamp_latent_weights(model: nn.Module) -> int:
    """``w <- clamp(w, -c, c)`` in place for every layer of :func:`clamped_layers`, ``c`` its
    binarizer's ``clamp``; returns the number of layers clamped."""
    layers = clamped_layers(model)
    for layer in layers:
        c = float(layer.weight_binarizer.clamp)
        layer.weight.clamp_(-c, c)
    return len(layers)


@HOOKS.register_module()
class LatentClampHook(Hook):
    """Clamps the latent weights of binary layers to ``[-clamp, clamp]`` after every optimizer
    step, ``clamp`` given by each layer's weight binarizer (1 for BNN's
    :class:`~mmbnn.binarizers.SignWeight`: its clipped straight-through gradient is 0 for
    ``|w| > 1``, so a weight pushed past 1 would never move again).

    BNN (Courbariaux et al., 2016, Algorithm 1: ``W <- clip(W - eta g, -1, 1)``) and larq
    (``kernel_constraint='weight_clip'``) do the same. The hook also clamps once before
    training (an initialisation or a loaded checkpoint outside the window). It runs after
    every training iteration, which follows the optimizer step; with gradient accumulation the
    weights do not change between steps and the clamp changes nothing.

    In a config: ``custom_hooks = [dict(type='mmbnn.LatentClampHook')]``.

    Raises:
        ValueError: Before training, if no layer of the model has a weight binarizer with a
            ``clamp`` (the hook would do nothing).
    """
    priority = 'LOW'

    @staticmethod
    def _model(runner) -> nn.Module:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        if not clamp_latent_weights(self._model(runner)):
            raise ValueError('LatentClampHook: the model has no binary layer whose weight '
                             'binarizer bounds its latent weights (SignWeight with a '
                             'clip_value, or a sparse binarizer with a clamp); remove the hook')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        clamp_latent_weights(self._model(runner))
