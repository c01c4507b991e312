"""Bop, the binary optimizer (Helwegen, Widdicombe, Geiger, Liu, Cheng, Nusselder, "Latent Weights
Do Not Exist: Rethinking Binarized Neural Network Optimization", NeurIPS 2019)."""
import numbers

import torch
from torch.optim import Optimizer

from mmbnn.binarizers.functional import sign
from mmbnn.registry import OPTIMIZERS

__all__ = ['Bop']


@OPTIMIZERS.register_module()
class Bop(Optimizer):
    """Flip a binary weight when the moving average of its gradient says so, consistently.

    For every weight ``w`` (kept in {-1, +1}) with gradient ``g``::

        m <- m + gamma (g - m)                 # m = (1 - gamma) m + gamma g, from m = 0
        w <- sign(-sign(w m - tau) w)          # flip where w m > tau, keep where w m < tau

    that is, ``w`` flips when the exponential moving average ``m`` of its gradient exceeds the
    threshold ``tau`` in magnitude and has the sign of ``w`` (a gradient step would push it
    through zero), as larq's ``Bop._resource_apply_dense`` computes it; ``sign(0) = +1`` (so a
    tie ``w m = tau`` gives +1, as larq). The first step also maps weights that are not yet
    +-1 (a float initialisation) to their signs. There are no latent weights: use a weight
    binarizer that passes the gradient at +-1 (``SignWeight``, ``XNORWeight``, ...).

    Bop trains only the binary weights; the other parameters need another optimizer:
    :class:`~mmbnn.engine.BinaryOptimWrapperConstructor` builds both from a config (larq's
    ``CaseOptimizer``).

    ``gamma`` is stored as each parameter group's ``lr``, so mmengine's learning-rate schedulers
    scale it (each group from its own starting value), as larq-zoo's Bop recipes schedule gamma.

    Args:
        params (iterable): The binary weights (or parameter groups).
        gamma (float): Adaptivity rate of the moving average, in (0, 1]. Default: 1e-4 (the
            paper's and larq's).
        threshold (float): tau, >= 0. Default: 1e-8 (larq's).
    """

    def __init__(self, params, gamma: float = 1e-4, threshold: float = 1e-8):
        for name, value, ok in (('gamma', gamma, lambda v: 0 < v <= 1),
                                ('threshold', threshold, lambda v: v >= 0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
                raise ValueError(f'Bop: invalid {name}={value!r} (gamma in (0, 1], '
                                 f'threshold >= 0)')
        super().__init__(params, dict(lr=float(gamma), threshold=float(threshold)))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            gamma, tau = group['lr'], group['threshold']
            for p in group['params']:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError('Bop does not support sparse gradients')
                state = self.state[p]
                if not state:
                    state['m'] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m = state['m']
                m.add_(p.grad - m, alpha=gamma)
                p.copy_(sign(torch.sign(p * m - tau).neg_().mul_(p)))
        return loss
