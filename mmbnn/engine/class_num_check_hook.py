"""A hook that refuses to run when a head's num_classes disagrees with the dataset's classes."""
from typing import List, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from mmbnn.registry import HOOKS

__all__ = ['ClassNumCheckHook', 'check_num_classes']


def _heads(model) -> List[Tuple[str, int]]:
    """(name, num_classes) of every head of ``model``: a sub-module whose name ends in ``head``
    (``bbox_head``, ``decode_head``, ``head``...) with an int ``num_classes``. RPN heads (one
    objectness class) are left out, as in mmdet's ``NumClassCheckHook``."""
    out = []
    for name, module in model.named_modules():
        last = name.rsplit('.', 1)[-1]
        num = getattr(module, 'num_classes', None)
        if last.endswith('head') and last != 'rpn_head' and isinstance(num, int):
            out.append((name, num))
    return out


def check_num_classes(model, dataset, split: str = 'train') -> None:
    """Raise ``ValueError`` if a head of ``model`` does not predict ``len(classes)`` classes of
    ``dataset.metainfo``. Datasets without ``classes`` in their metainfo are not checked."""
    model = model.module if is_model_wrapper(model) else model
    classes = getattr(dataset, 'metainfo', {}).get('classes')
    if classes is None:
        return
    if isinstance(classes, str):
        raise ValueError(f'the {split} dataset ({type(dataset).__name__}) has metainfo '
                         f'classes={classes!r}, a string: write a tuple, ({classes!r}, )')
    for name, num in _heads(model):
        if num != len(classes):
            raise ValueError(
                f'num_classes mismatch: model.{name}.num_classes={num} '
                f'({type(model.get_submodule(name)).__name__}) but the {split} dataset '
                f'({type(dataset).__name__}) has {len(classes)} classes {tuple(classes)}; '
                f'set model.{name}.num_classes={len(classes)} or the dataset\'s '
                'metainfo=dict(classes=...)')


@HOOKS.register_module()
class ClassNumCheckHook(Hook):
    """Before the run, compares every head's ``num_classes`` with the number of ``classes`` of
    each dataset the run uses (train, val, test), and raises a ``ValueError`` naming both.

    mmdet's ``NumClassCheckHook`` checks the same thing with an ``assert`` at the start of each
    train and val epoch (after the weights are loaded, never in ``tools/test.py``); this one
    fails once, before the first iteration and before any checkpoint is loaded, in training and
    in testing, and works for any toolbox whose heads carry ``num_classes``.
    In a config: ``custom_hooks = [dict(type='mmbnn.ClassNumCheckHook')]``.
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        loops: Sequence[Tuple[str, object]] = (
            ('train', runner._train_loop), ('val', runner._val_loop), ('test', runner._test_loop))
        for split, loop in loops:
            if isinstance(loop, BaseLoop):  # built for this run (configs are left alone)
                check_num_classes(runner.model, loop.dataloader.dataset, split)
