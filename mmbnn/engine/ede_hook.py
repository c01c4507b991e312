"""The hook that anneals IR-Net's Error Decay Estimator over training."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop

from mmbnn.binarizers.activation import EDEScheduleMixin
from mmbnn.registry import HOOKS

__all__ = ['EDEHook']


@HOOKS.register_module()
class EDEHook(Hook):
    """Sets the training progress ``p`` on every EDE module of the model (IR-Net, Qin et al.,
    CVPR 2020): every :class:`~mmbnn.binarizers.EDESign`, and every
    :class:`~mmbnn.binarizers.IRNetWeight` built with ``gradient='ede'``.

    Before each training iteration ``p = iter / max_iters`` (``by_epoch=False``), or before each
    training epoch ``p = epoch / max_epochs`` (``by_epoch=True``, IR-Net's own schedule); the
    modules then use ``t = t_min 10^(p log10(t_max / t_min))`` and ``k = max(1 / t, 1)``.
    ``p`` never reaches 1 during training, as in IR-Net (the last epoch has ``(E - 1) / E``).

    Args:
        by_epoch (bool): Update once per epoch instead of once per iteration; needs an
            epoch-based training loop. Default: False.

    Raises:
        ValueError: ``by_epoch`` is not a bool; or, before training, the model has no EDE
            module (the hook would do nothing), or ``by_epoch=True`` with an iteration-based
            loop (one "epoch": ``p`` would stay 0).
    """
    priority = 'NORMAL'

    def __init__(self, by_epoch: bool = False):
        if not isinstance(by_epoch, bool):
            raise ValueError(f'EDEHook: by_epoch must be a bool, got by_epoch={by_epoch!r}')
        self.by_epoch = by_epoch

    @staticmethod
    def _ede_modules(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return [m for m in model.modules()
                if isinstance(m, EDEScheduleMixin) and m.has_ede_schedule]

    def _set_progress(self, runner, progress: float) -> None:
        for module in self._ede_modules(runner):
            module.set_progress(min(max(progress, 0.0), 1.0))

    def before_train(self, runner) -> None:
        if not self._ede_modules(runner):
            raise ValueError('EDEHook: the model has no EDE module (EDESign, IRNetWeight or a '
                             'sparse binarizer with gradient="ede"), so the hook would do '
                             'nothing; remove it')
        if self.by_epoch and isinstance(getattr(runner, 'train_loop', None),
                                        IterBasedTrainLoop):
            raise ValueError('EDEHook(by_epoch=True) in an iteration-based training loop: '
                             'the progress would stay 0; use by_epoch=False')

    def before_train_epoch(self, runner) -> None:
        if self.by_epoch:
            self._set_progress(runner, runner.epoch / runner.max_epochs)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if not self.by_epoch:
            self._set_progress(runner, runner.iter / runner.max_iters)
