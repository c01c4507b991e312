"""Training a model against a frozen teacher: the distillation wrapper for any OpenMMLab model.

The student is any mmengine ``BaseModel`` config (an mmpretrain classifier, an mmdet detector,
an mmseg segmentor); the teacher is another config and its trained checkpoint. A distillation
config wraps the student config's model and changes nothing else::

    _base_ = ['../digits/birealnet-r18-w16_1xb64_digits.py']
    model = dict(
        _delete_=True,
        type='mmbnn.SingleTeacherDistiller',
        student={{_base_.model}},
        teacher=dict(config='digits/resnet18-w16_1xb64_digits.py',
                     checkpoint='work_dirs/resnet18-w16_1xb64_digits/epoch_30.pth'),
        distill_losses=dict(
            loss_kd=dict(type='mmbnn.DistributionLoss', student='head.fc', teacher='head.fc')))

What the wrapper guarantees:

- **Training** (``tools/train.py``): the loss is the student's own losses (unless
  ``with_student_loss=False``) plus every distillation loss, each computed from what named
  modules of the student and of the teacher returned in this batch's forward passes (forward
  hooks, :class:`~mmbnn.models.distillers.OutputRecorder`; no class of the student is changed).
  The teacher sees the batch as the student's data preprocessor made it (the two configs must
  normalise alike; checked), runs in eval mode without gradient, and is never trained.
- **The teacher is not part of the model**: it is held outside the module tree, so it is not in
  ``parameters()`` (the optimizer never sees it), not in ``state_dict()``, not re-initialised by
  ``init_weights()``; moving the wrapper (``.to(device)``) moves it along. It is built and loaded (with
  mmengine's ``CheckpointLoader``, hence mmbnn's safe loader and ``mmbnn://NAME`` names) on the
  first training step, or by :meth:`build_teacher`; testing never builds it.
- **Checkpoints are the student's**: ``state_dict()`` has exactly the student's keys (no
  ``student.`` prefix), and loading accepts them, so a checkpoint trained with the wrapper tests
  with the plain student config (``tools/test.py STUDENT_CONFIG CKPT``) and with the wrapper
  config (``tools/test.py DISTILL_CONFIG CKPT``, which runs the student alone: ``val_step`` /
  ``test_step`` and every ``mode`` but ``'loss'`` go to the student), and a student checkpoint
  (stage 1 of a two-stage recipe, say) loads into the wrapper through ``load_from``.
"""
import copy
import difflib
import os.path as osp
from typing import Dict, Optional, Union

import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader

from mmbnn.registry import MODELS, ROOT_MODELS, build_from_mmbnn
from mmbnn.utils import config_path, strip_module_prefix
from .dense_targets import fcos_positive_masks
from .recorder import OutputRecorder, _flatten

__all__ = ['SingleTeacherDistiller', 'MASKS']

#: What a distillation loss's ``mask`` may name: None (no mask) or ``'positives'`` (the
#: student's FCOS-style positives per level, :func:`fcos_positive_masks`).
MASKS = (None, 'positives')
_TEACHER_KEYS = ('config', 'checkpoint', 'cfg_options')
_WIRING_KEYS = ('student', 'teacher', 'mask')
_STUDENT = 'student.'


def _resolve_config(name: str) -> Config:
    """A config file: an existing path, ``'pkg::path'`` (mmengine's package configs) or a path
    under mmbnn's ``configs/``."""
    if osp.isfile(name):
        return Config.fromfile(name)
    if '::' in name:
        from mmengine.hub import get_config
        return get_config(name)
    return Config.fromfile(config_path(name))


def _relative(key: str, prefix: str) -> Optional[str]:
    """A metadata key relative to the wrapper at ``prefix`` ('' for the wrapper itself), or None
    for a key outside it."""
    if key == prefix[:-1]:
        return ''
    return key[len(prefix):] if key.startswith(prefix) else None


def _student_keys_out(module, state_dict, prefix, local_metadata):
    """state_dict post-hook: ``student.X`` -> ``X``; the shared data preprocessor's keys once."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if rest.startswith(_STUDENT):
            state_dict[prefix + rest[len(_STUDENT):]] = state_dict.pop(key)
        elif rest.startswith('data_preprocessor.'):  # the student's, saved under student.
            state_dict.pop(key)
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:  # module versions (BN's), keyed by module path without the dot
        for key in list(metadata):
            rest = _relative(key, prefix)
            if rest == 'student':
                metadata[prefix[:-1]] = metadata.pop(key)
            elif rest is not None and rest.startswith(_STUDENT):
                metadata[prefix + rest[len(_STUDENT):]] = metadata.pop(key)


def _student_keys_in(module, state_dict, prefix, local_metadata, strict, missing_keys,
                     unexpected_keys, error_msgs):
    """load_state_dict pre-hook: a student's key ``X`` -> ``student.X`` (keys already under
    ``student.`` and the data preprocessor's are left as they are)."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if rest.startswith(_STUDENT) or rest.startswith('data_preprocessor.'):
            continue
        state_dict[prefix + _STUDENT + rest] = state_dict.pop(key)
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        for key in list(metadata):
            rest = _relative(key, prefix)
            if rest is None or rest == 'student' or rest.startswith(_STUDENT):
                continue
            metadata.setdefault(prefix + ('student.' + rest if rest else 'student'),
                                metadata[key])


@MODELS.register_module()
class SingleTeacherDistiller(BaseModel):
    """A student model trained against one frozen teacher (module docstring).

    Args:
        student (dict): The student's model config (any mmengine ``BaseModel``: the config's
            ``model``), built in the current default scope.
        teacher (dict): ``config`` (str: a config file, an mmbnn config name such as
            ``'digits/resnet18-w16_1xb64_digits.py'``, or ``'mmdet::...'``), ``checkpoint``
            (str: a file or ``mmbnn://NAME``; override with ``--cfg-options
            model.teacher.checkpoint=PATH``) and optionally ``cfg_options`` (dict merged into
            the teacher's config). Its ``model`` is built in its own ``default_scope``.
        distill_losses (dict): Loss name (it must contain ``'loss'``, so that mmengine sums
            it) -> loss config: a registered loss (``type``, e.g. ``'mmbnn.DistributionLoss'``,
            and its arguments) plus the wiring, ``student`` and ``teacher`` (a source or a list
            of sources: a module name, optionally ``[i]``, as in
            :mod:`~mmbnn.models.distillers.recorder`) and optionally ``mask`` (one of
            :data:`MASKS`: ``'positives'`` passes the student's positives per level as the
            loss's third argument). The loss is called as ``loss(student_value,
            teacher_value[, masks])``.
        with_student_loss (bool): Add the student's own losses (its labels). False trains on
            the distillation losses alone (ReActNet's recipe). Default: True.
        data_preprocessor (dict, optional): The config's top-level ``data_preprocessor``
            (mmengine's Runner passes it): it goes to the student unless the student config
            has its own. The wrapper uses the student's.
        init_cfg (dict, optional): Unused by the wrapper itself (the student initialises
            itself). Default: None.

    Raises:
        TypeError: An unknown argument (the student's settings belong in ``student``), a
            student that is not an mmengine ``BaseModel``.
        KeyError: Unknown teacher keys, a loss without ``student`` / ``teacher``, a source that
            names no module of the student.
        ValueError: A loss name without ``'loss'``, an unknown ``mask``.
    """

    def __init__(self, student: dict, teacher: dict, distill_losses: dict,
                 with_student_loss: bool = True, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None, **unknown):
        if unknown:
            raise TypeError(
                f'SingleTeacherDistiller got unknown arguments {sorted(unknown)}; the student\'s '
                f'settings go under model.student (e.g. model.student.{sorted(unknown)[0]})')
        super().__init__(init_cfg=init_cfg)
        student = copy.deepcopy(dict(student))
        if data_preprocessor is not None:
            student.setdefault('data_preprocessor', data_preprocessor)
        built = ROOT_MODELS.build(student)
        if not isinstance(built, BaseModel):
            raise TypeError(f'the student must be an mmengine BaseModel (a classifier, detector '
                            f'or segmentor config), got {type(built).__name__}')
        self.student = built
        self.data_preprocessor = built.data_preprocessor
        self.teacher_cfg = self._check_teacher(teacher)
        if not isinstance(with_student_loss, bool):
            raise TypeError(f'with_student_loss must be a bool, got {with_student_loss!r}')
        self.with_student_loss = with_student_loss

        if not isinstance(distill_losses, dict) or not distill_losses:
            raise ValueError('distill_losses must be a non-empty dict: loss name -> loss config')
        self.distill_losses = torch.nn.ModuleDict()
        self.wiring: Dict[str, dict] = {}
        for name, cfg in distill_losses.items():
            if 'loss' not in name:
                raise ValueError(f'distill_losses key {name!r} must contain "loss" (mmengine '
                                 'optimises only the outputs whose name contains "loss")')
            cfg = dict(cfg)
            missing = [k for k in ('student', 'teacher') if k not in cfg]
            if missing:
                raise KeyError(f'distill_losses.{name} needs {" and ".join(missing)} (the '
                               'module names whose outputs the loss compares)')
            wiring = {k: cfg.pop(k, None) for k in _WIRING_KEYS}
            if wiring['mask'] not in MASKS:
                raise ValueError(f'distill_losses.{name}.mask must be one of {MASKS}, got '
                                 f'{wiring["mask"]!r}')
            self.distill_losses[name] = build_from_mmbnn(cfg)
            self.wiring[name] = wiring
        sources = [s for w in self.wiring.values() for s in _flatten(w['student'])]
        self._student_recorder = OutputRecorder(self.student, sources, owner='student')
        # Outside the module tree on purpose (module docstring): object.__setattr__ bypasses
        # nn.Module's registration of sub-modules.
        object.__setattr__(self, '_teacher', None)
        object.__setattr__(self, '_teacher_recorder', None)
        self.register_state_dict_post_hook(_student_keys_out)
        self.register_load_state_dict_pre_hook(_student_keys_in)

    @staticmethod
    def _check_teacher(teacher) -> dict:
        if not isinstance(teacher, dict):
            raise TypeError(f'teacher must be a dict(config=..., checkpoint=...), got '
                            f'{teacher!r}')
        teacher = dict(teacher)
        unknown = sorted(set(teacher) - set(_TEACHER_KEYS))
        if unknown:
            close = [c for k in unknown for c in difflib.get_close_matches(k, _TEACHER_KEYS, 1)]
            raise KeyError(f'teacher got unknown keys {unknown}; it takes {list(_TEACHER_KEYS)}'
                           + (f' (did you mean {", ".join(close)}?)' if close else ''))
        for key in ('config', 'checkpoint'):
            if not isinstance(teacher.get(key), str) or not teacher[key]:
                raise KeyError(f'teacher.{key} must be a non-empty string, got '
                               f'{teacher.get(key)!r}')
        if not isinstance(teacher.get('cfg_options') or {}, dict):
            raise TypeError(f'teacher.cfg_options must be a dict, got '
                            f'{teacher["cfg_options"]!r}')
        return teacher

    # ------------------------------------------------------------------ teacher
    @property
    def teacher(self) -> BaseModel:
        """The frozen teacher (built and loaded on first use)."""
        if self._teacher is None:
            self.build_teacher()
        return self._teacher

    def build_teacher(self) -> BaseModel:
        """Build the teacher from its config, load its checkpoint (strictly), freeze it, put it
        in eval mode on the student's device, and hook the modules the losses read."""
        spec = self.teacher_cfg
        cfg = _resolve_config(spec['config'])
        if spec.get('cfg_options'):
            cfg.merge_from_dict(dict(spec['cfg_options']))
        model_cfg = copy.deepcopy(dict(cfg.model))
        if cfg.get('data_preprocessor') is not None:
            model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
        # building initialises weights from the global RNG: keep the run's random stream as it
        # would be without a teacher, so that runs with and without one are paired
        rng = torch.get_rng_state()
        try:
            with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
                teacher = ROOT_MODELS.build(model_cfg)
        finally:
            torch.set_rng_state(rng)
        checkpoint = spec['checkpoint']
        if '://' not in checkpoint and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'teacher checkpoint {checkpoint!r} not found: train the teacher first '
                f'(python tools/train.py {spec["config"]}) or set model.teacher.checkpoint')
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
        state = strip_module_prefix(ckpt)
        try:
            teacher.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise RuntimeError(f'teacher checkpoint {checkpoint!r} does not fit the model of '
                               f'{spec["config"]!r}: {e}') from e
        teacher.requires_grad_(False)
        teacher.eval()
        param = next(self.student.parameters(), None)
        if param is not None:
            teacher.to(param.device)
        self._check_preprocessors(teacher)
        sources = [s for w in self.wiring.values() for s in _flatten(w['teacher'])]
        object.__setattr__(self, '_teacher_recorder',
                           OutputRecorder(teacher, sources, owner='teacher'))
        object.__setattr__(self, '_teacher', teacher)
        return teacher

    def _check_preprocessors(self, teacher):
        """The teacher gets the student's preprocessed batch: they must normalise alike."""
        mine, theirs = self.student.data_preprocessor, teacher.data_preprocessor
        for attr in ('mean', 'std'):
            a, b = getattr(mine, attr, None), getattr(theirs, attr, None)
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and (
                    a.shape != b.shape or not torch.allclose(a.cpu(), b.cpu())):
                raise ValueError(
                    f'the teacher\'s data_preprocessor {attr} {b.flatten().tolist()} differs '
                    f'from the student\'s {a.flatten().tolist()}: the teacher runs on the '
                    "student's preprocessed batch, so their configs must normalise alike")
        for attr in ('_channel_conversion', '_enable_normalize'):
            a, b = getattr(mine, attr, None), getattr(theirs, attr, None)
            if a is not None and b is not None and a != b:
                raise ValueError(f'the teacher\'s data_preprocessor {attr.strip("_")} ({b}) '
                                 f'differs from the student\'s ({a})')

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self._teacher is not None:
            self._teacher._apply(fn, *args, **kwargs)
        return self

    # ------------------------------------------------------------------ steps
    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        """``mode='loss'``: :meth:`loss`; every other mode is the student's."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode=mode)

    def val_step(self, data: Union[dict, tuple, list]) -> list:
        return self.student.val_step(data)

    def test_step(self, data: Union[dict, tuple, list]) -> list:
        return self.student.test_step(data)

    def loss(self, inputs: torch.Tensor, data_samples=None) -> Dict[str, torch.Tensor]:
        """The student's losses (if ``with_student_loss``) and every distillation loss."""
        teacher = self.teacher
        with self._student_recorder.recording():
            if self.with_student_loss:
                losses = dict(self.student.loss(inputs, data_samples))
            else:
                self.student(inputs, data_samples, mode='tensor')
                losses = {}
        with torch.no_grad(), self._teacher_recorder.recording():
            teacher(inputs, data_samples, mode='tensor')
        try:
            for name, loss in self.distill_losses.items():
                if name in losses:
                    raise KeyError(f'distillation loss {name!r} has the name of one of the '
                                   f'student\'s losses {sorted(losses)}: rename it')
                wiring = self.wiring[name]
                s = self._student_recorder.get(wiring['student'])
                t = self._teacher_recorder.get(wiring['teacher'])
                if wiring['mask'] == 'positives':
                    levels = s if isinstance(s, (list, tuple)) else [s]
                    masks = fcos_positive_masks(self.student, [v.shape[-2:] for v in levels],
                                                data_samples)
                    losses[name] = loss(s, t, masks)
                else:
                    losses[name] = loss(s, t)
        finally:
            self._student_recorder.clear()
            self._teacher_recorder.clear()
        return losses
