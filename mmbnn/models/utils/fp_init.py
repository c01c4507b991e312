"""Group-Net's recipe: initialise every binary base from one full-precision ResNet."""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader
from torch import nn

from mmbnn.utils.checkpoint import check_checkpoint_fits

__all__ = ['expand_to_bases', 'load_full_precision', 'fp_state_dict', 'DEFAULT_BASE_NOISE']

#: Std of the noise added to base k > 0 of every copied conv weight, relative to the weight's std.
DEFAULT_BASE_NOISE = 0.1


def fp_state_dict(checkpoint: dict, prefix: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """The weights of a checkpoint (torchvision: the dict itself; OpenMMLab: ``state_dict``),
    with ``prefix`` removed. ``prefix=None`` removes ``backbone.`` when every backbone key has it
    (an mmpretrain classifier) and keeps the keys otherwise (a torchvision ResNet)."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint.get('model', checkpoint))
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise KeyError(f'no key of the checkpoint starts with prefix {prefix!r}')
    return OrderedDict((k, v) for k, v in state.items() if isinstance(v, torch.Tensor))


def expand_to_bases(fp_state: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor],
                    base_noise: float = 0.0, seed: int = 0
                    ) -> Tuple[Dict[str, torch.Tensor], List[str], List[str]]:
    """Map full-precision weights onto a model with K bases per group.

    A target tensor of the same shape as its full-precision namesake is copied; one whose first
    dim is K times larger (a grouped conv or a BN over K*C channels, base-major) gets K copies.

    K exact copies are K identical bases: they binarize alike, and Adam, whose step ignores the
    scale of a gradient, moves them alike (measured: 99.8 % of the weight signs still agree
    between bases after 8 steps). With ``base_noise > 0`` the copy of base k > 0 of every conv
    weight (4-d) becomes ``W + base_noise * std(W) * N(0, 1)`` (a fixed generator seeded with
    ``seed``): the weights near 0 change sign, so the bases start as different binary
    approximations of the same full-precision layer. Base 0, the stem and BN are exact copies.

    Args:
        fp_state (dict): Full-precision weights (torchvision / mmpretrain keys).
        target (dict): The state dict of the model to initialise.
        base_noise (float): Relative std of the noise on bases k > 0. Default: 0 (exact copies).
        seed (int): Seed of the noise. Default: 0.

    Returns:
        (state, missing, unexpected): the expanded weights; target keys left as they are
        (lambda, gates, anything new); full-precision keys with no target (the classifier).
    """
    if base_noise < 0:
        raise ValueError(f'base_noise must be >= 0, got {base_noise}')
    gen = torch.Generator().manual_seed(seed)
    out, missing = OrderedDict(), []
    for key, dst in target.items():
        src = fp_state.get(key)
        if src is None:
            missing.append(key)
        elif src.shape == dst.shape:
            out[key] = src.to(dst.dtype).clone()
        elif (src.dim() >= 1 and src.shape[1:] == dst.shape[1:] and src.shape[0] > 0
              and dst.shape[0] % src.shape[0] == 0):
            reps = dst.shape[0] // src.shape[0]
            src = src.to(dst.dtype)
            copies = [src] * reps
            if base_noise and src.dim() == 4 and src.is_floating_point():
                std = float(src.float().std())
                copies = [src] + [src + base_noise * std * torch.randn(
                    src.shape, generator=gen).to(src.dtype) for _ in range(reps - 1)]
            out[key] = torch.cat(copies, 0)
        else:
            raise ValueError(f'cannot map {key}: full-precision shape {tuple(src.shape)}, '
                             f'target shape {tuple(dst.shape)}. Is the depth/width the same?')
    unexpected = [k for k in fp_state if k not in target]
    return out, missing, unexpected


def load_full_precision(model: nn.Module, checkpoint: str, prefix: Optional[str] = None,
                        map_location='cpu', base_noise: float = DEFAULT_BASE_NOISE
                        ) -> Tuple[List[str], List[str]]:
    """Load a full-precision ResNet checkpoint (``torchvision://resnet18``, a local torchvision or
    mmpretrain file...) into every base of ``model`` (bases k > 0 perturbed by ``base_noise``,
    see :func:`expand_to_bases`); return (missing, unexpected) keys."""
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location=map_location)
    state, missing, unexpected = expand_to_bases(fp_state_dict(ckpt, prefix), model.state_dict(),
                                                 base_noise=base_noise)
    check_checkpoint_fits(model, state, source=f'init_cfg Pretrained {checkpoint}',
                          hint='It should be a full-precision ResNet of the same depth and width '
                          '(torchvision or mmpretrain keys; give prefix= for other key prefixes).')
    model.load_state_dict(state, strict=False)
    real_missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    print_log(f'Loaded full-precision weights from {checkpoint} into '
              f'{type(model).__name__}: {len(state)} tensors; kept as initialised: '
              f'{real_missing or "none"}; unused: {unexpected or "none"}', logger='current')
    return real_missing, unexpected
