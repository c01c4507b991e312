"""What mmbnn's stem-then-stages backbones share: ``out_indices``, ``frozen_stages``,
``norm_eval``, the forward pass over ``stem`` and ``stages``, and the checks of ``arch`` and of
width arguments."""
from typing import Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['StagedBackbone', 'FrozenStagesMixin', 'DEFAULT_INIT_CFG', 'check_arch',
           'check_positive_ints']

#: mmpretrain's default for its CNN backbones: Kaiming-normal convolutions (binary ones
#: included: the latent weights), BN weights 1 and biases 0.
DEFAULT_INIT_CFG = [
    dict(type='Kaiming', layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
]


def check_arch(cls_name: str, arch: Union[str, dict], settings: dict, keys: Sequence[str]):
    """``arch`` as a dict: a key of ``settings``, or a dict with exactly ``keys``."""
    if isinstance(arch, str):
        if arch not in settings:
            raise KeyError(f'invalid arch {arch!r} for {cls_name}: choose from '
                           f'{sorted(settings)} or give a dict with keys {list(keys)}')
        return dict(settings[arch])
    if not isinstance(arch, dict) or set(arch) != set(keys):
        raise KeyError(f'a custom {cls_name} arch must be a dict with keys {list(keys)}, got '
                       f'{arch!r}')
    return dict(arch)


def check_positive_ints(**values) -> None:
    """Raise a ValueError naming the first of ``values`` that is not an int >= 1."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f'{name} must be a positive int, got {name}={v!r}')


class FrozenStagesMixin:
    """mmpretrain's ``frozen_stages`` and ``norm_eval`` for a backbone: the modules that
    ``_frozen_modules()`` names stay in eval mode with ``requires_grad=False``, and with
    ``norm_eval`` every BN layer stays in eval mode while the model trains."""

    def _frozen_modules(self) -> list:
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


class StagedBackbone(FrozenStagesMixin, BaseModule):
    """A backbone made of ``self.stem`` followed by the modules of ``self.stages`` (an
    ``nn.ModuleList``), which a subclass builds; stage i's output is output i.

    Args:
        num_stages (int): Number of stages the subclass builds.
        out_indices (Sequence[int]): Stages to output (negative counts from the end).
        frozen_stages (int): Stages to freeze (-1: none, 0: the stem only).
        norm_eval (bool): Keep every BN layer in eval mode while training.
        init_cfg (dict | list, optional): mmengine's initialisation config.

    Raises:
        IndexError: An ``out_indices`` value out of range. ValueError: ``frozen_stages`` out of
            [-1, num_stages], ``norm_eval`` not a bool.
    """
    stem: nn.Module
    stages: nn.ModuleList

    def __init__(self, num_stages: int, out_indices: Sequence[int], frozen_stages: int,
                 norm_eval: bool, init_cfg=None):
        super().__init__(init_cfg)
        out_indices = (out_indices, ) if isinstance(out_indices, int) else tuple(out_indices)
        for i in out_indices:
            if isinstance(i, bool) or not isinstance(i, int) or \
                    not -num_stages <= i < num_stages:
                raise IndexError(f'out_indices value {i!r} is out of range for {num_stages} '
                                 f'stages')
        if isinstance(frozen_stages, bool) or not isinstance(frozen_stages, int) or \
                not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be an int in [-1, {num_stages}], got '
                             f'{frozen_stages!r}')
        if not isinstance(norm_eval, bool):
            raise ValueError(f'norm_eval must be a bool, got {norm_eval!r}')
        self.num_stages = num_stages
        self.out_indices = tuple(sorted({i % num_stages for i in out_indices}))
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self) -> list:
        frozen = [self.stem] if self.frozen_stages >= 0 else []
        return frozen + list(self.stages[:max(self.frozen_stages, 0)])
