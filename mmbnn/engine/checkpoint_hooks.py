"""Checkpoints that lose nothing: atomic saves, and loads that refuse a checkpoint of another
model. ``tools/train.py`` and ``tools/test.py`` use both by default
(:func:`mmbnn.utils.prepare_checkpoint_hooks`); other tools get them from a config::

    default_hooks = dict(checkpoint=dict(type='mmbnn.AtomicCheckpointHook', interval=1))
    custom_hooks = [dict(type='mmbnn.CheckpointFitHook')]
"""
import contextlib
import glob
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import find_latest_checkpoint

from mmbnn.registry import HOOKS
from mmbnn.utils.checkpoint import MIN_FIT_FRACTION, check_checkpoint_fits

__all__ = ['AtomicCheckpointHook', 'CheckpointFitHook', 'PARTIAL_SUFFIX', 'replace_atomically',
           'write_text_atomically']

#: Suffix of a checkpoint being written; renamed to its final name when complete.
PARTIAL_SUFFIX = '.partial'


def _fsync(path: str, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(src: str, dst: str) -> None:
    """Move the complete file ``src`` to ``dst`` (same folder) in one step: its bytes are
    flushed to disk first, then renamed over ``dst`` (POSIX ``rename``), then the folder's entry
    is flushed. A reader sees the old ``dst`` or the new one, never a part of it."""
    _fsync(src)
    os.replace(src, dst)
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsync'd
        _fsync(osp.dirname(osp.abspath(dst)), directory=True)


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and :func:`replace_atomically`."""
    tmp = f'{path}.{os.getpid()}{PARTIAL_SUFFIX}'
    with open(tmp, 'w') as f:
        f.write(text)
    replace_atomically(tmp, path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) whose checkpoints survive a kill at any
    moment, ``kill -9`` while saving included.

    mmengine writes ``iter_N.pth`` in place, then ``last_checkpoint`` (in place), and with
    ``max_keep_ckpts`` removes the oldest kept checkpoint *before* writing the new one: a run
    killed while saving can leave a half-written ``iter_N.pth``, an empty ``last_checkpoint``, or
    (``max_keep_ckpts=1``) a ``last_checkpoint`` naming a file already removed, so ``--resume``
    fails or starts over. Here, on a local work folder:

    1. the checkpoint is written as ``iter_N.pth.partial`` and renamed to ``iter_N.pth`` when
       complete (:func:`replace_atomically`), so a file with a checkpoint's name is complete;
    2. ``last_checkpoint`` is then replaced the same way, so it always names a complete file;
    3. only then are the checkpoints beyond ``max_keep_ckpts`` removed;
    4. a ``*.partial`` left by a killed run is removed when training starts.

    ``save_best`` checkpoints are written the same way (mmengine still removes the previous
    best before writing the new one). Remote back ends (no rename) behave as mmengine's hook.
    """

    def _local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._local() and is_main_process():
            for stale in glob.glob(osp.join(glob.escape(self.out_dir), '*' + PARTIAL_SUFFIX)):
                if osp.isfile(stale):
                    os.remove(stale)
                    runner.logger.info(f'Removed {stale}: a checkpoint that an earlier run did '
                                       f'not finish writing')

    @contextlib.contextmanager
    def _atomic_saves(self, runner):
        """While open, ``runner.save_checkpoint(out_dir, name, ...)`` writes ``name.partial``
        and renames it to ``name`` when complete."""
        had = 'save_checkpoint' in vars(runner)
        previous = runner.save_checkpoint

        def save(out_dir, filename, *args, **kwargs):
            previous(out_dir, filename + PARTIAL_SUFFIX, *args, **kwargs)
            if is_main_process():
                path = osp.join(out_dir, filename)
                replace_atomically(path + PARTIAL_SUFFIX, path)

        runner.save_checkpoint = save
        try:
            yield
        finally:
            if had:
                runner.save_checkpoint = previous
            else:
                del runner.save_checkpoint

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        with self._atomic_saves(runner):
            runner.save_checkpoint(
                self.out_dir, filename, self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta,
                by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        write_text_atomically(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in outdated:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed saves folders
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self._local():
            return super()._save_best_checkpoint(runner, metrics)
        with self._atomic_saves(runner):
            super()._save_best_checkpoint(runner, metrics)


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Refuse, before training or testing on it, a checkpoint that does not fit the model.

    - ``before_run``: ``load_from = 'mmbnn://NAME'`` whose zoo entry was trained with another
      architecture than the config's is refused, naming the entry's config
      (:func:`mmbnn.zoo.architecture.check_zoo_architecture`).
    - ``after_load_checkpoint`` (``load_from``, ``--resume``, ``tools/test.py``): a checkpoint
      that would set less than ``min_fraction`` of the model's values is refused, saying how
      many matched (:func:`mmbnn.utils.check_checkpoint_fits`); mmengine would load it with
      ``strict=False``, warn, and go on with a mostly random model.

    Args:
        min_fraction (float): Refuse below this share of the model's values. Default: 0.5.
    """
    priority = 'VERY_LOW'  # after the hooks that change the checkpoint as it loads (EMA)

    def __init__(self, min_fraction: float = MIN_FIT_FRACTION):
        if not 0 <= min_fraction <= 1:
            raise ValueError(f'CheckpointFitHook: min_fraction must be in [0, 1], got '
                             f'{min_fraction}')
        self.min_fraction = min_fraction

    @staticmethod
    def _source(runner) -> str:
        load_from = getattr(runner, '_load_from', None)
        if load_from:
            return str(load_from)
        latest = find_latest_checkpoint(runner.work_dir) if getattr(runner, '_resume', False) \
            else None
        return str(latest) if latest else 'the checkpoint'

    def before_run(self, runner) -> None:
        load_from = getattr(runner, '_load_from', None)
        if load_from and str(load_from).startswith('mmbnn://'):
            from mmbnn.zoo.architecture import check_zoo_architecture
            check_zoo_architecture(runner.cfg, load_from)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from mmbnn.zoo.architecture import zoo_config_hint
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        source = self._source(runner)
        check_checkpoint_fits(model, checkpoint, source=source, min_fraction=self.min_fraction,
                              hint=zoo_config_hint(source))
