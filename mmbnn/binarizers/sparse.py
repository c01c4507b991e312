"""Sparse binary weights: the generalised binary domain {phi - tau, phi + tau} with a target
fraction of active connections (SBNN), and magnitude-pruned sign weights as the baseline.

Schiavone, Galati, Zuluaga, "Binary domain generalization for sparsifying binary neural
networks", ECML-PKDD 2023 (arXiv 2306.13515); official code: github.com/robustml-eurecom/SBNN.

**Active connections.** A weight is *active* when it takes the value that has to be stored and
computed:

- :class:`SparseBinaryWeight`: ``w_b = phi + tau s`` with ``s`` in {-1, +1}; the active weights
  are those with ``s = +1`` (value ``phi + tau``), the others take ``phi - tau``. A convolution
  with such weights is ``y = (phi - tau) S(x) + 2 tau conv(x, m)``, ``m`` the 0/1 mask of the
  active weights and ``S(x)`` the sum of the inputs over the kernel window (one per output
  position and conv group, shared by every output channel). So only the positions of the active
  weights are stored, and only they are computed, whatever the inactive value is; the closed-form
  fit below puts it near 0 for small EC. By convention the active value is the rarer one: a layer
  never has more than half of its weights active (``ec >= 0.5`` gives the dense, balanced layer).
- :class:`PrunedSignWeight`: ``w_b = tau sign(w) m``, values {-tau, 0, +tau}; the active weights
  are the non-zero ones (``m = 1``), which store their position *and* their sign.

**EC (expected connections)** is the target fraction of active weights, in (0, 1]. It is met
exactly, per layer, at every forward pass: the ``k = round(EC n)`` largest weights (by value for
:class:`SparseBinaryWeight`, by magnitude for :class:`PrunedSignWeight`) are the active ones,
through a threshold computed without gradient (a quantile, ``torch.kthvalue``; weights equal to
the threshold are all active, so ties, which real-valued weights practically never have, can
add a few). Why a constraint and not a penalty: the official code adds ``lambda relu(active / total - EC)`` to the loss with
a strength ``gamma`` tuned per EC, and reaches EC only approximately; a loss term also needs
every toolbox's model (mmpretrain heads, mmdet, mmseg) to add it. The quantile threshold needs no
loss term, works in any model through ``conv_cfg`` alone, and gives exactly EC; the only
pressure on the weights is the task loss, which decides *which* weights are active.
:class:`mmbnn.engine.SparsityHook` checks that the model has sparse binarizers, logs the active
fraction and can anneal the current EC from dense to the target (a schedule, as
:class:`mmbnn.engine.EDEHook` anneals EDE; off by default).

**Closed-form initialisation** (derived here by least squares; the paper's own derivation could
not be read). For a layer of ``n`` weights and ``k`` active ones, minimise
``sum_i (w_i - w_b,i)^2`` over the assignment and ``(phi, tau)``: for any two values
``a > b``, putting ``w_i`` at ``a`` rather than ``b`` costs ``(w_i - a)^2 - (w_i - b)^2 =
(a - b)(a + b - 2 w_i)``, decreasing in ``w_i``, so the best ``k`` are the ``k`` largest
weights; given them, each value is the mean of its weights. Hence, with ``delta`` the k-th
largest weight, ``m+ = mean(w | w >= delta)``, ``m- = mean(w | w < delta)``:
``phi = (m+ + m-) / 2``, ``tau = (m+ - m-) / 2``. The pruned baseline fits its scale the same
way: ``tau = mean(|w| | kept)``. Both are applied once, lazily, at the first forward pass, at
the EC in use then (the target, unless the hook's warm-up is on), after the model's
``init_weights`` and any pretrained weights, and never again after a checkpoint is loaded (the
``fitted`` buffer is saved with it); then tau and phi are learned.

**Cost of a sparse layer** (:meth:`SparseWeightBinarizer.sparsity_stats`), for ``n`` weights of
which ``k`` are active: memory ``log2 C(n, k)`` bits to store which weights are active (the
information-theoretic size of the mask, reached within a few bits by an enumerative or
arithmetic code; about ``n`` bits when ``k = n / 2``, 0 when ``k = n``), plus ``k`` sign bits for
the pruned baseline; binary MACs: the fraction ``k / n`` of the dense ones, plus, for the
generalised domain, the window sums ``S(x)``: ``groups / C_out`` of the dense MACs. A layer at
its dense setting (EC >= 0.5 for the generalised domain, EC = 1 for pruned weights) counts its
dense MACs: the mask decomposition would apply to any +-1 layer alike, so it is no saving of
the domain.
"""
import math
import numbers
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.model import is_model_wrapper
from torch import nn

from mmbnn.registry import MODELS
from .activation import EDEScheduleMixin
from .base import WeightBinarizer
from .functional import ede_sign, sign, ste_sign

__all__ = ['SparseWeightBinarizer', 'SparseBinaryWeight', 'PrunedSignWeight', 'check_ec',
           'num_active', 'kth_largest', 'fit_sparse_domain', 'fit_pruned_scale', 'mask_bits',
           'layer_sparsity', 'sparse_binarizers']


def check_ec(ec, name: str = 'ec') -> float:
    """``ec`` as a float, or a ValueError naming EC if it is not a number in (0, 1]."""
    if isinstance(ec, bool) or not isinstance(ec, numbers.Real) or not 0 < ec <= 1:
        raise ValueError(f'{name} (EC, expected connections: the target fraction of active '
                         f'weights) must be a number in (0, 1], got {name}={ec!r}')
    return float(ec)


def num_active(n: int, ec: float) -> int:
    """``k = round(ec n)``, at least 1 and at most ``n``: the number of active weights."""
    return min(max(int(round(ec * n)), 1), n)


def kth_largest(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th largest element of ``x`` (0-d, no gradient)."""
    flat = x.detach().reshape(-1)
    return torch.kthvalue(flat, flat.shape.numel() - k + 1).values


@torch.no_grad()
def fit_sparse_domain(w: torch.Tensor, ec: float
                      ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The least-squares fit of ``w`` by ``phi + tau s`` with ``round(min(ec, 1/2) n)`` weights at
    ``s = +1``: returns ``(tau, phi, delta)`` (0-d), ``delta`` the k-th largest weight.

    ``phi = (m+ + m-) / 2`` and ``tau = (m+ - m-) / 2`` with ``m+`` the mean of the weights
    ``>= delta`` and ``m-`` the mean of the others (module docstring for the proof)."""
    ec = min(check_ec(ec), 0.5)
    w = w.detach()
    delta = kth_largest(w, num_active(w.shape.numel(), ec))
    active = w >= delta
    m_plus = w[active].mean()
    m_minus = w[~active].mean() if not bool(active.all()) else m_plus
    return (m_plus - m_minus) / 2, (m_plus + m_minus) / 2, delta


@torch.no_grad()
def fit_pruned_scale(w: torch.Tensor, ec: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """The least-squares fit of ``w`` by ``tau sign(w) m`` keeping the ``round(ec n)`` largest
    ``|w|``: returns ``(tau, delta)``, ``tau = mean(|w| | kept)``, ``delta`` the k-th largest
    ``|w|``."""
    a = w.detach().abs()
    delta = kth_largest(a, num_active(a.numel(), check_ec(ec)))
    return a[a >= delta].mean(), delta


def mask_bits(n: int, k: int) -> float:
    """``log2 C(n, k)``: the bits needed to store which ``k`` of ``n`` weights are active."""
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


class SparseWeightBinarizer(EDEScheduleMixin, WeightBinarizer):
    """What the sparse weight binarizers share: the target ``ec``, the current EC that
    :class:`mmbnn.engine.SparsityHook` anneals, the learned per-layer scale ``tau`` with its lazy
    closed-form fit, the surrogate gradient, and the metadata of the model summary
    (:meth:`active_mask`, :meth:`active_fraction`, :meth:`sparsity_stats`).

    Subclasses set ``max_active`` (the largest fraction of active weights the domain uses) and
    implement :meth:`_threshold`, :meth:`active_mask`, :meth:`fit` and ``forward``.

    Args:
        ec (float): Target fraction of active weights (EC), in (0, 1].
        gradient (str): Surrogate gradient of the sign: ``'identity'`` (straight-through) or
            ``'ede'`` (IR-Net's EDE ``k t (1 - tanh^2(t x))``, annealed by
            :class:`mmbnn.engine.EDEHook`). Default: ``'identity'``.
        t_min (float): EDE's ``t`` at the start of training. Default: 0.1.
        t_max (float): EDE's ``t`` at the end of training. Default: 10.0.
    """
    _GRADIENTS = ('identity', 'ede')
    max_active: float = 1.0
    #: Extra bits stored per active weight (its sign, for pruned +-1 weights).
    bits_per_active: int = 0

    def __init__(self, ec: float, gradient: str = 'identity', t_min: float = 0.1,
                 t_max: float = 10.0):
        super().__init__()
        self.ec = check_ec(ec)
        self.current_ec = self.ec
        if gradient not in self._GRADIENTS:
            raise ValueError(f'gradient must be one of {self._GRADIENTS}, '
                             f'got gradient={gradient!r}')
        self.gradient = gradient
        if gradient == 'ede':
            self._init_ede_schedule(t_min, t_max)
        self.tau = nn.Parameter(torch.tensor(1.0))
        # Whether tau (and phi) were fitted to the weights; saved with the checkpoint, mirrored
        # by a Python bool so that the forward pass never reads a tensor on the host.
        self.register_buffer('fitted', torch.tensor(False))
        self._fitted = False

    # ------------------------------------------------------------------ EC and the threshold
    def set_current_ec(self, ec: float) -> None:
        """Set the EC the forward pass uses now (the hook's schedule); the target is kept."""
        self.current_ec = check_ec(ec, 'current ec')

    @property
    def effective_ec(self) -> float:
        """The fraction of active weights the forward pass targets: ``min(current EC,
        max_active)``."""
        return min(self.current_ec, self.max_active)

    def num_active(self, w: torch.Tensor) -> int:
        return num_active(w.shape.numel(), self.effective_ec)

    def _threshold(self, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def active_mask(self, w: torch.Tensor) -> torch.Tensor:
        """Boolean mask of the active weights of ``w`` (the ones stored and computed)."""
        raise NotImplementedError

    @torch.no_grad()
    def active_fraction(self, w: torch.Tensor) -> float:
        """The fraction of active weights of ``w``."""
        return float(self.active_mask(w).float().mean())

    @torch.no_grad()
    def sparsity_stats(self, w: torch.Tensor, groups: int = 1) -> Dict[str, float]:
        """What the summary needs for a layer whose weight is ``w``.

        Returns a dict: ``weights`` (n), ``active`` (k), ``active_fraction`` (k / n),
        ``dense_bits`` (n, 1 bit per weight), ``sparse_bits`` (``log2 C(n, k)`` plus
        ``bits_per_active k``), ``mac_fraction`` (share of the dense binary MACs a sparse
        kernel runs: ``k / n``, plus ``groups / C_out`` for the window sums of the generalised
        domain, at most 1; exactly 1 for a layer at its dense setting, ``EC >= max_active``,
        which is computed as any dense binary layer).
        """
        n = w.shape.numel()
        k = int(self.active_mask(w).sum())
        mac_fraction = 1.0
        if self.effective_ec < self.max_active:
            mac_fraction = min(1.0, k / n + self._shared_mac_fraction(w, groups))
        return dict(weights=n, active=k, active_fraction=k / n, dense_bits=n,
                    sparse_bits=mask_bits(n, k) + self.bits_per_active * k,
                    mac_fraction=mac_fraction)

    def _shared_mac_fraction(self, w: torch.Tensor, groups: int) -> float:
        return 0.0

    # ------------------------------------------------------------------------ fit and gradient
    def fit(self, w: torch.Tensor) -> None:
        """Set the learned values to the least-squares fit of ``w`` at the current EC."""
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
    """The generalised binary domain {phi - tau, phi + tau} with a target fraction of active
    weights (SBNN; Schiavone et al., ECML-PKDD 2023).

    ``q(w) = tau s + phi``, ``s = sign(w - delta)`` (+1 at ``w = delta``), ``delta`` the k-th
    largest weight of the layer, ``k = round(min(EC, 1/2) n)``: exactly ``k`` weights take the
    active value ``phi + tau``, the others ``phi - tau`` (module docstring). ``tau`` and ``phi``
    are learned scalars, one pair per layer, as in the official code: a per-layer pair keeps the
    sparse convolution to one shared window sum ``(phi - tau) S(x)``; a per-channel ``tau``
    would only duplicate the BN that follows. They start from the closed-form least-squares fit
    (:func:`fit_sparse_domain`) at the first forward pass. With K Group-Net bases in one grouped
    conv, the K bases share the pair and the EC.

    Gradients: ``dq/dw = tau ds/dw`` with the straight-through estimator (``gradient=
    'identity'``: ``ds/dw = 1``) or IR-Net's EDE applied to ``w - delta`` (``gradient='ede'``,
    as the official code applies it to its weights); ``delta`` is a constant (no gradient).
    ``dq/dtau = s`` and ``dq/dphi = 1``, exact. ``binary_parts``: ``(s, tau, phi)``.

    Args:
        ec (float): Target fraction of active weights (EC), in (0, 1]; values >= 0.5 give the
            dense layer with half of its weights at each value. Default: 0.1.
        gradient (str): ``'identity'`` or ``'ede'``. Default: ``'identity'``.
        t_min (float): EDE's ``t`` at the start of training. Default: 0.1.
        t_max (float): EDE's ``t`` at the end of training. Default: 10.0.
    """
    max_active = 0.5

    def __init__(self, ec: float = 0.1, gradient: str = 'identity', t_min: float = 0.1,
                 t_max: float = 10.0):
        super().__init__(ec, gradient, t_min, t_max)
        self.phi = nn.Parameter(torch.tensor(0.0))

    def _threshold(self, w: torch.Tensor) -> torch.Tensor:
        return kth_largest(w, self.num_active(w))

    def active_mask(self, w: torch.Tensor) -> torch.Tensor:
        return w.detach() >= self._threshold(w)

    @torch.no_grad()
    def fit(self, w: torch.Tensor) -> None:
        tau, phi, _ = fit_sparse_domain(w, self.effective_ec)
        self.tau.copy_(tau)
        self.phi.copy_(phi)
        self._mark_fitted()

    def _shared_mac_fraction(self, w: torch.Tensor, groups: int) -> float:
        return groups / w.size(0)  # one window sum per output position and conv group

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        self._maybe_fit(w)
        return self._sign(w - self._threshold(w)) * self.tau + self.phi

    def binary_parts(self, w):
        return sign(w - self._threshold(w)), self.tau, self.phi


@MODELS.register_module()
class PrunedSignWeight(SparseWeightBinarizer):
    """Sign weights with magnitude pruning: the +-1 baseline of the generalised domain.

    ``q(w) = tau sign(w) m``: the mask ``m`` keeps the ``k = round(EC n)`` weights of the layer
    with the largest ``|w|`` (``|w| >= delta``, delta the k-th largest ``|w|``) and zeroes the
    others, so the weights take the three values {-tau, 0, +tau}; ``EC = 1`` keeps them all (a
    plain sign layer with a learned scale). ``tau`` is one learned scalar per layer, fitted at
    the first forward pass to ``mean(|w| | kept)`` (:func:`fit_pruned_scale`).

    Gradients: ``dq/dw = tau ds/dw`` for every weight, pruned ones included (the pruning mask
    passes the gradient straight through, so a pruned weight can grow back, as in dynamic
    pruning with feedback; Lin et al., ICLR 2020), with ``ds/dw`` the straight-through
    estimator or EDE as for :class:`SparseBinaryWeight`; ``dq/dtau = sign(w) m``.
    ``binary_parts``: ``(sign(w), tau m, None)``, the scale a full-size tensor that is 0 at the
    pruned weights.

    Args:
        ec (float): Fraction of weights kept (EC), in (0, 1]. Default: 0.1.
        gradient (str): ``'identity'`` or ``'ede'``. Default: ``'identity'``.
        t_min (float): EDE's ``t`` at the start of training. Default: 0.1.
        t_max (float): EDE's ``t`` at the end of training. Default: 10.0.
    """
    bits_per_active = 1

    def __init__(self, ec: float = 0.1, gradient: str = 'identity', t_min: float = 0.1,
                 t_max: float = 10.0):
        super().__init__(ec, gradient, t_min, t_max)

    def _threshold(self, w: torch.Tensor) -> torch.Tensor:
        return kth_largest(w.abs(), self.num_active(w))

    def active_mask(self, w: torch.Tensor) -> torch.Tensor:
        if self.num_active(w) == w.shape.numel():
            return torch.ones_like(w, dtype=torch.bool)
        return w.detach().abs() >= self._threshold(w)

    @torch.no_grad()
    def fit(self, w: torch.Tensor) -> None:
        tau, _ = fit_pruned_scale(w, self.effective_ec)
        self.tau.copy_(tau)
        self._mark_fitted()

    def _scale(self, w: torch.Tensor) -> torch.Tensor:
        return self.tau * self.active_mask(w).to(w.dtype)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        self._maybe_fit(w)
        s = self._sign(w)
        mask = self.active_mask(w).to(w.dtype)
        # value: s * (tau m), as binary_parts rebuilds it; the second term is 0 in value and
        # carries the straight-through gradient tau ds/dw to the pruned weights.
        return s * (self.tau * mask) + (s - s.detach()) * (self.tau.detach() * (1 - mask))

    def binary_parts(self, w):
        return sign(w), self._scale(w), None


def layer_sparsity(layer: nn.Module, strict: bool = False) -> Optional[Dict[str, float]]:
    """:meth:`SparseWeightBinarizer.sparsity_stats` of a binary layer's weight (``groups`` taken
    from the layer), or None when its weight binarizer is not sparse.

    Args:
        layer (nn.Module): A binary conv or linear layer (with ``weight_binarizer``).
        strict (bool): Raise a ValueError instead of returning None. Default: False.
    """
    binarizer = getattr(layer, 'weight_binarizer', None)
    if isinstance(binarizer, SparseWeightBinarizer):
        return binarizer.sparsity_stats(layer.weight, groups=getattr(layer, 'groups', 1))
    if strict:
        if binarizer is None and hasattr(layer, 'weight_binarizer'):
            raise ValueError(f'{type(layer).__name__} has real weights (weight_binarizer=None): '
                             'sparsity needs a sparse weight binarizer, e.g. weight_binarizer='
                             "dict(type='mmbnn.SparseBinaryWeight', ec=0.1)")
        raise ValueError(f'{type(layer).__name__} has no sparse weight binarizer (got '
                         f'{type(binarizer).__name__ if binarizer is not None else None}); use '
                         "weight_binarizer=dict(type='mmbnn.SparseBinaryWeight', ec=...) or "
                         "dict(type='mmbnn.PrunedSignWeight', ec=...)")
    return None


def sparse_binarizers(model: nn.Module, owner: str = 'sparse_binarizers'
                      ) -> List[Tuple[str, SparseWeightBinarizer]]:
    """``(name, binarizer)`` of every sparse weight binarizer of ``model`` (model wrappers
    unwrapped); a ValueError naming ``owner`` and saying what the model has instead if there is
    none."""
    model = model.module if is_model_wrapper(model) else model
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, SparseWeightBinarizer)]
    if found:
        return found
    layers = [(n, m) for n, m in model.named_modules() if hasattr(m, 'weight_binarizer')]
    real = [n for n, m in layers if m.weight_binarizer is None]
    other = sorted({type(m.weight_binarizer).__name__ for _, m in layers
                    if m.weight_binarizer is not None})
    if not layers:
        what = 'no binary layer (no module with a weight_binarizer)'
    else:
        what = f'{len(layers)} binary layers'
        if real:
            what += (f', {len(real)} of them with real weights (weight_binarizer=None, e.g. '
                     f'{real[0]!r})')
        if other:
            what += f', weight binarizers {", ".join(other)}'
    raise ValueError(f'{owner}: the model ({type(model).__name__}) has no sparse weight binarizer '
                     f'to act on; it has {what}. Give its binary convs weight_binarizer='
                     "dict(type='mmbnn.SparseBinaryWeight', ec=...) (or "
                     "'mmbnn.PrunedSignWeight') through conv_cfg")
