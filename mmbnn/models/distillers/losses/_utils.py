"""Argument and input checks shared by the distillation losses."""
import math
from typing import Sequence

import torch

__all__ = ['check_positive', 'check_same_shape', 'as_levels']


def check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        raise ValueError(f'{name} must be a finite number > 0, got {value!r}')
    return float(value)


def check_same_shape(loss: str, student: torch.Tensor, teacher: torch.Tensor):
    if not isinstance(student, torch.Tensor) or not isinstance(teacher, torch.Tensor):
        raise TypeError(f'{loss} takes tensors, got {type(student).__name__} and '
                        f'{type(teacher).__name__} (a recorded module output that is a tuple '
                        "needs an index: 'name[0]')")
    if student.shape != teacher.shape:
        raise ValueError(f'{loss}: student {tuple(student.shape)} and teacher '
                         f'{tuple(teacher.shape)} differ in shape')


def as_levels(loss: str, value) -> Sequence[torch.Tensor]:
    """A tensor -> one level; a list or tuple of tensors -> the levels."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and \
            all(isinstance(v, torch.Tensor) for v in value):
        return list(value)
    raise TypeError(f'{loss} takes a tensor or a non-empty sequence of tensors (one per level), '
                    f'got {type(value).__name__}')
