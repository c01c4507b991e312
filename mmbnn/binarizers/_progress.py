"""Binarizers whose surrogate follows the training progress, driven by :class:`mmbnn.EDEHook`."""
from .activation import EDEScheduleMixin

__all__ = ['ProgressScheduleMixin']


class ProgressScheduleMixin(EDEScheduleMixin):
    """A binarizer that changes with the training progress ``p`` in [0, 1] (ReCU's clamp
    quantile ``tau``, FDA's number of Fourier terms), annealed by the hook that anneals IR-Net's
    EDE: :class:`mmbnn.engine.EDEHook` calls :meth:`set_progress` on every module with
    ``has_ede_schedule`` true (``p = iter / max_iters``, or ``epoch / max_epochs`` with
    ``by_epoch=True``, the schedule of ReCU's and BiBench's code). Without the hook ``p`` stays 0.

    Subclasses implement :meth:`_apply_progress` and call it from ``__init__`` with ``0.0``.
    """
    progress: float = 0.0

    @property
    def has_ede_schedule(self) -> bool:
        return True

    def set_progress(self, progress: float) -> None:
        """Set the training progress ``progress`` in [0, 1]."""
        if not 0 <= progress <= 1:
            raise ValueError(f'progress must be in [0, 1], got {progress}')
        self.progress = float(progress)
        self._apply_progress(self.progress)

    def _apply_progress(self, progress: float) -> None:
        raise NotImplementedError
