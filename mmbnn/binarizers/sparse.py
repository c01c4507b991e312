"""Sparse binary weights: the generalised binary domain {phi - tau, phi + tau} (SBNN) and
magnitude-pruned sign weights, its +-1 baseline.

Schiavone, Galati, Zuluaga, "Binary domain generalization for sparsifying binary neural
networks", ECML-PKDD 2023 (arXiv 2306.13515); official code: github.com/robustml-eurecom/SBNN
(read for this file: ``CIFAR-10/ir_1w1a_learn.py``, ``CIFAR-10/main_learn.py``,
``CIFAR-100/birealnetBNN.py``; the paper's text could not be read).

**Active connections.** A weight is *active* when it takes the value that has to be stored and
computed:

- :class:`SparseBinaryWeight`: ``w_b = tau s + phi`` with ``s`` in {-1, +1}; the active weights
  are those with ``s = +1`` (value ``phi + tau``). With the official code's sign threshold a
  weight is active where ``w > 0``: its budget counts ``0.5 sum(b(w) + 1)`` with
  ``b(w) = 2 (w > 0) - 1``, so ``w = 0`` is inactive; its value path, ``torch.sign``, maps
  ``w = 0`` to ``s = 0``, the value ``phi`` (a latent weight exactly at 0, a set of measure zero,
  that no 1-bit code holds). A convolution with such weights is ``y = (phi - tau) S(x) +
  2 tau conv(x, m)``, ``m`` the 0/1 mask of the active weights and ``S(x)`` the sum of the
  inputs over the kernel window (one per output position and conv group, shared by every
  output channel): only the positions of the active weights are stored and computed, whatever
  the inactive value ``phi - tau`` is.
- :class:`PrunedSignWeight`: ``w_b = tau sign(w) m``, values {-tau, 0, +tau}; the active weights
  are the non-zero ones (``m = 1``), which store their position *and* their sign.

**EC (expected connections)** is the target fraction of active weights, in (0, 1]. Two ways to
meet it (``threshold`` of :class:`SparseBinaryWeight`):

- ``'sign'`` (the official code, the default): ``s = sign(w)``, and one budget for the whole
  network, a loss term ``lambda relu(active / total - EC)`` over every such layer, added by
  :class:`mmbnn.engine.SparsityHook` through :class:`mmbnn.models.SparseBudgetLoss`; the
  network chooses how many weights of each layer are active.
- ``'quantile'`` (mmbnn's earlier mode): every layer exactly at EC, the ``k = round(EC n)``
  largest weights active, through a threshold recomputed (without gradient) at every forward
  pass; no loss term. :class:`PrunedSignWeight` always prunes this way (by ``|w|``).

**Closed-form initialisation** (``init='fit'``; derived here by least squares, the paper's own
closed form could not be read). For a layer of ``n`` weights with a given set of ``k`` active
ones, minimise ``sum_i (w_i - w_b,i)^2`` over ``(phi, tau)``: each value is the mean of its
weights, ``phi = (m+ + m-) / 2``, ``tau = (m+ - m-) / 2`` with ``m+`` (``m-``) the mean of the
active (other) weights. Over the choice of the ``k`` active weights too: putting ``w_i`` at
``a > b`` rather than ``b`` costs ``(a - b)(a + b - 2 w_i)``, decreasing in ``w_i``, so the best
``k`` are the ``k`` largest (the quantile split). The pruned baseline fits its scale the same
way: ``tau = mean(|w| | kept)``. The fit is applied once, lazily, at the first forward pass,
after the model's ``init_weights`` and any pretrained weights, never after a checkpoint is loaded
(the ``fitted`` buffer is saved with it); then tau and phi are learned. The official code starts
instead from ``(tau, phi) = (1, 0)`` (``init='unit'``): plain +-1 weights, dense at first.

The cost of a sparse layer (bits, MACs) is computed in :mod:`mmbnn.analysis.sparse_cost`; the
helpers that walk a model's sparse layers live beside the hook, in
:mod:`mmbnn.engine.sparse_layers`.
"""
import numbers
from typing import Optional, Tuple

import torch
from torch import nn

from mmbnn.registry import MODELS
from .activation import EDEScheduleMixin
from .base import WeightBinarizer
from .functional import clipped_ste, ede_sign, sign, ste_sign

__all__ = ['SparseWeightBinarizer', 'SparseBinaryWeight', 'PrunedSignWeight', 'check_ec',
           'num_active', 'top_k_mask', 'fit_two_values', 'fit_sparse_domain', 'fit_pruned_scale']


def check_ec(ec, name: str = 'ec') -> float:
    """``ec`` as a float, or a ValueError naming EC if it is not a number in (0, 1]."""
    if isinstance(ec, bool) or not isinstance(ec, numbers.Real) or not 0 < ec <= 1:
        raise ValueError(f'{name} (EC, expected connections: the target fraction of active '
                         f'weights) must be a number in (0, 1], got {name}={ec!r}')
    return float(ec)


def num_active(n: int, ec: float) -> int:
    """``k = round(ec n)``, at least 1 and at most ``n``: the number of active weights."""
    return min(max(int(round(ec * n)), 1), n)


@torch.no_grad()
def top_k_mask(x: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(mask, delta)``: the boolean mask of exactly ``k`` largest elements of ``x`` and the
    k-th largest value ``delta`` (0-d). Elements equal to ``delta`` are chosen among by
    ``torch.topk``, so ties (e.g. several weights at a clamp bound) never make more than ``k``
    active."""
    flat = x.detach().reshape(-1)
    values, index = torch.topk(flat, k, sorted=False)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[index] = True
    return mask.view_as(x), values.min()


@torch.no_grad()
def fit_two_values(w: torch.Tensor, active: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The least-squares ``(tau, phi)`` (0-d) of ``w`` by ``phi + tau s``, ``s = +1`` where
    ``active``: ``phi = (m+ + m-) / 2``, ``tau = (m+ - m-) / 2``, the means of the two sets
    (``m- = m+`` if every weight is active)."""
    w = w.detach()
    m_plus = w[active].mean()
    m_minus = w[~active].mean() if not bool(active.all()) else m_plus
    return (m_plus - m_minus) / 2, (m_plus + m_minus) / 2


@torch.no_grad()
def fit_sparse_domain(w: torch.Tensor, ec: float
                      ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The least-squares fit of ``w`` by ``phi + tau s`` with ``round(min(ec, 1/2) n)`` weights at
    ``s = +1``: returns ``(tau, phi, delta)`` (0-d), ``delta`` the k-th largest weight (module
    docstring for the proof)."""
    ec = min(check_ec(ec), 0.5)
    mask, delta = top_k_mask(w, num_active(w.shape.numel(), ec))
    tau, phi = fit_two_values(w, mask)
    return tau, phi, delta


@torch.no_grad()
def fit_pruned_scale(w: torch.Tensor, ec: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """The least-squares fit of ``w`` by ``tau sign(w) m`` keeping the ``round(ec n)`` largest
    ``|w|``: returns ``(tau, delta)``, ``tau = mean(|w| | kept)``, ``delta`` the k-th largest
    ``|w|``."""
    a = w.detach().abs()
    mask, delta = top_k_mask(a, num_active(a.numel(), check_ec(ec)))
    return a[mask].mean(), delta


def _official_budget_sign(w: torch.Tensor) -> torch.Tensor:
    """``2 (w > 0) - 1``: the official code's ``sign_function`` (``w = 0`` -> -1, inactive)."""
    return (w > 0).to(w.dtype) * 2 - 1


def _choice(value, choices, name):
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {name}={value!r}')
    return value


class SparseWeightBinarizer(EDEScheduleMixin, WeightBinarizer):
    """What the sparse weight binarizers share: the target ``ec``, the current EC that
    :class:`mmbnn.engine.SparsityHook` can anneal, the learned per-layer scale ``tau`` with its
    optional lazy least-squares fit, the surrogate gradient of the sign, and what the cost model
    (:mod:`mmbnn.analysis.sparse_cost`) and the packer read (:meth:`active_mask`,
    :meth:`sparse_parts`, ``max_active``, ``bits_per_active``, ``shared_window_sums``).

    Args:
        ec (float): Target fraction of active weights (EC), in (0, 1].
        gradient (str): Surrogate gradient of the sign: ``'identity'`` (straight-through) or
            ``'ede'`` (IR-Net's EDE ``k t (1 - tanh^2(t x))``, annealed by
            :class:`mmbnn.engine.EDEHook`).
        t_min (float, optional): EDE's ``t`` at the start of training; ``gradient='ede'`` only
            (0.1 if not given).
        t_max (float, optional): EDE's ``t`` at the end of training; ``gradient='ede'`` only
            (10.0 if not given).
    """
    _GRADIENTS = ('identity', 'ede')
    #: The largest fraction of active weights the domain uses (its dense setting).
    max_active: float = 1.0
    #: Extra bits stored per active weight (its sign, for pruned +-1 weights).
    bits_per_active: int = 0
    #: Whether a sparse convolution also computes the window sums ``S(x)`` (one per output
    #: position and conv group): the generalised domain's inactive value ``phi - tau``.
    shared_window_sums: bool = False
    #: Whether the layer's EC is met by the network-wide budget penalty (not per layer).
    uses_budget: bool = False

    def __init__(self, ec: float, gradient: str, t_min: Optional[float] = None,
                 t_max: Optional[float] = None):
        super().__init__()
        self.ec = check_ec(ec)
        self.current_ec = self.ec
        self.gradient = _choice(gradient, self._GRADIENTS, 'gradient')
        if gradient == 'ede':
            self._init_ede_schedule(0.1 if t_min is None else t_min,
                                    10.0 if t_max is None else t_max)
        elif t_min is not None or t_max is not None:
            raise ValueError(f"{type(self).__name__}: t_min and t_max set EDE's schedule and act "
                             f"only with gradient='ede', got gradient={gradient!r}, "
                             f't_min={t_min!r}, t_max={t_max!r}')
        self.tau = nn.Parameter(torch.tensor(1.0))
        # Whether tau (and phi) were fitted to the weights; saved with the checkpoint, mirrored
        # by a Python bool so that the forward pass never reads a tensor on the host.
        self.register_buffer('fitted', torch.tensor(False))
        self._fitted = False

    # ------------------------------------------------------------------ EC and the threshold
    def set_current_ec(self, ec: float) -> None:
        """Set the EC the layer targets now (the hook's schedule); the target is kept."""
        self.current_ec = check_ec(ec, 'current ec')

    @property
    def effective_ec(self) -> float:
        """The fraction of active weights targeted now: ``min(current EC, max_active)``."""
        return min(self.current_ec, self.max_active)

    @property
    def is_sparse(self) -> bool:
        """Whether the layer is at a sparse setting (``EC < max_active``): the cost model then
        counts a sparse kernel's MACs, else the dense ones (a +-1 layer at its dense setting is
        computed as any dense binary layer)."""
        return self.effective_ec < self.max_active

    def num_active(self, w: torch.Tensor) -> int:
        """``round(effective EC n)``: the active weights of a per-layer (quantile) threshold."""
        return num_active(w.shape.numel(), self.effective_ec)

    def active_mask(self, w: torch.Tensor) -> torch.Tensor:
        """Boolean mask of the active weights of ``w`` (the ones stored and computed)."""
        raise NotImplementedError

    @torch.no_grad()
    def active_fraction(self, w: torch.Tensor) -> float:
        """The fraction of active weights of ``w``."""
        return float(self.active_mask(w).float().mean())

    def sparse_parts(self, w: torch.Tensor):
        """``(signs, mask, scale, offset)`` with ``forward(w) == signs * scale * mask + offset``
        in value (``mask`` None for all ones, ``offset`` None for 0): what a packed checkpoint
        stores (bits, mask bits, a per-layer or per-channel scale) and a sparse kernel reads."""
        raise NotImplementedError

    # ------------------------------------------------------------------------ fit and gradient
    def fit(self, w: torch.Tensor) -> None:
        """Set the learned values to the least-squares fit of ``w``."""
        raise NotImplementedError

    def _mark_fitted(self) -> None:
        self.fitted.fill_(True)
        self._fitted = True

    def _maybe_fit(self, w: torch.Tensor) -> None:
        if not self._fitted and not torch.jit.is_tracing():
            self.fit(w)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._fitted = bool(self.fitted)

    def _sign(self, x: torch.Tensor) -> torch.Tensor:
        """sign(x) with the configured surrogate gradient."""
        if self.gradient == 'ede':
            return ede_sign(x, self.t, self.k)
        return ste_sign(x, None)

    def extra_repr(self) -> str:
        s = f'bits={self.bits}, ec={self.ec}, gradient={self.gradient!r}'
        if self.current_ec != self.ec:
            s += f', current_ec={self.current_ec:.4g}'
        if self.gradient == 'ede':
            s += f', t_min={self.t_min}, t_max={self.t_max}'
        return s


@MODELS.register_module()
class SparseBinaryWeight(SparseWeightBinarizer):
    """The generalised binary domain {phi - tau, phi + tau} with a target fraction EC of active
    weights (SBNN; Schiavone et al., ECML-PKDD 2023).

    ``q(w) = tau s + phi``, ``s`` in {-1, +1}; the active weights are those at ``s = +1``.
    ``tau`` and ``phi`` are learned scalars, one pair per layer, as in the official code (a
    per-layer pair keeps the sparse convolution to one shared window sum ``(phi - tau) S(x)``; a
    per-channel ``tau`` would duplicate the BN that follows). With K Group-Net bases in one
    grouped conv, the K bases share the pair.

    Each choice of the official code (``CIFAR-10/ir_1w1a_learn.py``, ``main_learn.py``) is a
    switch whose default is the official one:

    - ``threshold='sign'``: ``s = sign(w)`` as the official code has it at ``w = 0``: the budget
      counts ``w = 0`` inactive (its ``2 (w > 0) - 1``), the value path gives it ``s = 0``
      (its ``torch.sign``), i.e. the value ``phi`` (:meth:`binary_parts` then refuses: no 1-bit
      code holds it, and packing keeps such a layer in full precision). mmbnn's other
      binarizers have sign(0) = +1; this one follows the authors. EC is not met per layer: it is the
      target of one network-wide budget, the penalty ``lambda relu(active / total - EC)`` that
      :class:`mmbnn.engine.SparsityHook` adds to the loss (:class:`mmbnn.models.
      SparseBudgetLoss`), so the layers' active fractions are learned; training such a layer
      without the hook leaves it dense (about half active), and the hook refuses a model whose
      budget layers it cannot act on. ``threshold='quantile'`` (ours): every layer exactly at EC,
      ``s = sign(w - delta)`` with ``delta`` the k-th largest weight, ``k = round(min(EC, 1/2)
      n)``, exactly ``k`` weights active (ties chosen among by ``torch.topk``), no loss term.
    - ``init='unit'``: ``(tau, phi) = (1, 0)`` at construction, plain +-1 weights; the density
      falls as training goes. ``init='fit'`` (ours): the least-squares fit of the weights at the
      first forward pass (:func:`fit_two_values` on the sign split, :func:`fit_sparse_domain` on
      the quantile split).
    - ``clamp=1.5``: the latent weights are clamped to ``[-clamp, clamp]`` after every training
      step (``torch.clamp(w, -1.5, 1.5)`` in the official training loop), by
      :class:`mmbnn.engine.LatentClampHook` (:class:`mmbnn.engine.SparsityHook` refuses to train
      without it); None: never.
    - ``gradient='ede'``: IR-Net's EDE on the sign (the official code's ``BinaryQuantize`` on its
      weights and activations), annealed by :class:`mmbnn.engine.EDEHook`; ``'identity'``: the
      straight-through estimator. In quantile mode EDE is applied to ``w - delta``.

    Gradients: ``dq/dw = tau ds/dw``, ``dq/dtau = s``, ``dq/dphi = 1``. ``binary_parts``:
    ``(s, tau, phi)``; ``sparse_parts``: ``(s, None, tau, phi)`` (the signs *are* the mask: bit 1
    marks an active weight); both refuse (ValueError) a sign-threshold weight with an exact 0.
    A layer with ``ec >= 0.5`` is the dense domain (the official code's EC 0.5 has no
    penalty).

    Args:
        ec (float): Target fraction of active weights (EC), in (0, 1]; the network-wide budget
            with ``threshold='sign'``, per layer with ``'quantile'``. Values >= 0.5 give the dense
            layer. Default: 0.1.
        threshold (str): ``'sign'`` or ``'quantile'``. Default: ``'sign'``.
        init (str): ``'unit'`` or ``'fit'``. Default: ``'unit'``.
        clamp (float, optional): Bound of the latent weights, > 0, or None. Default: 1.5.
        gradient (str): ``'ede'`` or ``'identity'``. Default: ``'ede'``.
        t_min (float, optional): EDE's ``t`` at the start of training (``gradient='ede'``
            only). Default: None (0.1).
        t_max (float, optional): EDE's ``t`` at the end of training (``gradient='ede'`` only).
            Default: None (10.0).
    """
    max_active = 0.5
    shared_window_sums = True
    _THRESHOLDS = ('sign', 'quantile')
    _INITS = ('unit', 'fit')

    def __init__(self, ec: float = 0.1, threshold: str = 'sign', init: str = 'unit',
                 clamp: Optional[float] = 1.5, gradient: str = 'ede',
                 t_min: Optional[float] = None, t_max: Optional[float] = None):
        super().__init__(ec, gradient, t_min, t_max)
        self.threshold = _choice(threshold, self._THRESHOLDS, 'threshold')
        self.init = _choice(init, self._INITS, 'init')
        if clamp is not None and (isinstance(clamp, bool) or not isinstance(
                clamp, numbers.Real) or not clamp > 0):
            raise ValueError(f'clamp (the bound of the latent weights) must be a number > 0 or '
                             f'None, got clamp={clamp!r}')
        self.clamp = None if clamp is None else float(clamp)
        self.phi = nn.Parameter(torch.tensor(0.0))

    @property
    def uses_budget(self) -> bool:
        return self.threshold == 'sign'

    def _maybe_fit(self, w: torch.Tensor) -> None:
        if self.init == 'fit':
            super()._maybe_fit(w)

    def _delta(self, w: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(mask, delta)``: the active mask and the threshold (None: sign at 0, where
        ``w > 0`` is active, as the official code's budget counts)."""
        if self.threshold == 'sign':
            return w.detach() > 0, None
        return top_k_mask(w, self.num_active(w))

    def active_mask(self, w: torch.Tensor) -> torch.Tensor:
        return self._delta(w)[0]

    def budget_count(self, w: torch.Tensor) -> torch.Tensor:
        """The number of active weights with the official code's value and gradient, for the
        budget: ``0.5 sum(b(w) + 1)`` with ``b(w) = 2 (w > 0) - 1`` (so ``w = 0`` is inactive;
        0-d, ``w``'s dtype) and the identity straight-through estimator, so
        ``d count / d w_i = 1/2`` for every weight (``sign_function`` and ``ones_weights`` in
        ``ir_1w1a_learn.py``)."""
        return 0.5 * (clipped_ste(w, _official_budget_sign) + 1).sum()

    @torch.no_grad()
    def fit(self, w: torch.Tensor) -> None:
        mask, _ = self._delta(w)
        tau, phi = fit_two_values(w, mask)
        self.tau.copy_(tau)
        self.phi.copy_(phi)
        self._mark_fitted()

    def _signs(self, w: torch.Tensor) -> torch.Tensor:
        mask, delta = self._delta(w)
        if delta is None:
            s = self._sign(w)  # sign(0) = +1, with the surrogate gradient
            # value: torch.sign, 0 at w = 0 (the official value path); gradient: s's
            return s + (torch.sign(w.detach()) - s.detach())
        s = self._sign(w - delta)
        # value: exactly the k of the mask (ties at delta otherwise all count); gradient: s's
        return s + (torch.where(mask, 1.0, -1.0).to(s.dtype) - s).detach()

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        self._maybe_fit(w)
        return self._signs(w) * self.tau + self.phi

    def binary_parts(self, w):
        if self.threshold == 'sign' and bool((w == 0).any()):
            raise ValueError('a latent weight is exactly 0: its value is phi (the official '
                             "code's torch.sign(0) = 0), which no 1-bit code holds")
        return torch.where(self.active_mask(w), 1.0, -1.0).to(w.dtype), self.tau, self.phi

    def sparse_parts(self, w):
        signs, tau, phi = self.binary_parts(w)
        return signs, None, tau, phi

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, threshold={self.threshold!r}, init={self.init!r}, '
                f'clamp={self.clamp}')


@MODELS.register_module()
class PrunedSignWeight(SparseWeightBinarizer):
    """Sign weights with magnitude pruning: the +-1 baseline of the generalised domain (ours; the
    official SBNN code has no pruned baseline of its own).

    ``q(w) = tau sign(w) m``: the mask ``m`` keeps the ``k = round(EC n)`` weights of the layer
    with the largest ``|w|`` (exactly ``k``, ties chosen among by ``torch.topk``) and zeroes the
    others, so the
    weights take the three values {-tau, 0, +tau}; ``EC = 1`` keeps them all (a plain sign layer
    with a learned scale). ``tau`` is one learned scalar per layer, fitted at the first forward
    pass to ``mean(|w| | kept)`` (:func:`fit_pruned_scale`).

    Gradients: ``dq/dw = tau ds/dw`` for every weight, pruned ones included (the pruning mask
    passes the gradient straight through, so a pruned weight can grow back, as in dynamic
    pruning with feedback; Lin et al., ICLR 2020), with ``ds/dw`` the straight-through
    estimator or EDE; ``dq/dtau = sign(w) m``. ``binary_parts``: ``(sign(w), tau m, None)``, the
    scale a full-size tensor that is 0 at the pruned weights; ``sparse_parts``: ``(s, m, tau,
    None)`` with ``s = sign(w)`` at the kept weights and +1 at the pruned ones, what the packer
    stores (sign bits, mask bits and the scalar ``tau``).

    Args:
        ec (float): Fraction of weights kept (EC), in (0, 1]. Default: 0.1.
        gradient (str): ``'identity'`` or ``'ede'``. Default: ``'identity'``.
        t_min (float, optional): EDE's ``t`` at the start of training (``gradient='ede'``
            only). Default: None (0.1).
        t_max (float, optional): EDE's ``t`` at the end of training (``gradient='ede'`` only).
            Default: None (10.0).
    """
    bits_per_active = 1

    def __init__(self, ec: float = 0.1, gradient: str = 'identity',
                 t_min: Optional[float] = None, t_max: Optional[float] = None):
        super().__init__(ec, gradient, t_min, t_max)

    def active_mask(self, w: torch.Tensor) -> torch.Tensor:
        k = self.num_active(w)
        if k == w.shape.numel():
            return torch.ones_like(w, dtype=torch.bool)
        return top_k_mask(w.abs(), k)[0]

    @torch.no_grad()
    def fit(self, w: torch.Tensor) -> None:
        tau, _ = fit_pruned_scale(w, self.effective_ec)
        self.tau.copy_(tau)
        self._mark_fitted()

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        self._maybe_fit(w)
        s = self._sign(w)
        mask = self.active_mask(w).to(w.dtype)
        # value: s * (tau m), as binary_parts rebuilds it; the second term is 0 in value and
        # carries the straight-through gradient tau ds/dw to the pruned weights.
        return s * (self.tau * mask) + (s - s.detach()) * (self.tau.detach() * (1 - mask))

    def binary_parts(self, w):
        return sign(w), self.tau * self.active_mask(w).to(w.dtype), None

    def sparse_parts(self, w):
        mask = self.active_mask(w)
        return torch.where(mask, sign(w), 1.0).to(w.dtype), mask, self.tau, None
