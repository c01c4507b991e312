"""Safe loading of Runner checkpoints under torch >= 2.6.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; torch 2.6 made ``weights_only=True``
the default, and the Runner's checkpoints hold a few pickled objects that torch does not know
(mmengine's ``HistoryBuffer`` in the message hub, numpy arrays and scalars in it and in the meta).
So ``resume``, ``load_from`` and ``tools/test.py`` fail on files the Runner wrote itself.

mmbnn fixes this in this one place and keeps torch's restricted unpickler on: it re-registers
mmengine's loader for local files (``CheckpointLoader`` prefix ``''``) with one that loads with
``weights_only=True`` and an explicit allow-list of exactly the types Runner checkpoints hold
(:data:`SAFE_CHECKPOINT_GLOBALS`). A checkpoint that carries any other pickled object is refused
with :class:`UnsafeCheckpointError`, which names the objects found. Nothing here ever turns
torch's weights-only unpickler off.

Two helpers for every place that puts a checkpoint into a model:

- :func:`strip_module_prefix`: the plain state dict of a checkpoint, without the ``module.``
  prefix that (Distributed)DataParallel wrappers add to the keys;
- :func:`check_checkpoint_fits`: refuse (:class:`CheckpointMismatchError`) a checkpoint that
  would leave most of a model's values uninitialised (a checkpoint of another model: mmengine
  loads it with ``strict=False``, warns, and the model runs on its initial weights), saying
  how much matched.
"""
import os.path as osp
import pickle
import pickletools
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional, Sequence, Set, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

__all__ = ['SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'safe_load', 'load_from_local',
           'strip_module_prefix', 'CheckpointFit', 'CheckpointMismatchError', 'checkpoint_fit',
           'check_checkpoint_fits', 'MIN_FIT_FRACTION', 'CHECKPOINT_READERS',
           'register_checkpoint_reader', 'read_checkpoint']


def _numpy_globals() -> List[Callable]:
    """numpy's array and scalar reconstructors, ``ndarray``, ``dtype`` and the numeric dtype
    classes. Object arrays are left out on purpose: their items could be anything."""
    multiarray = getattr(np, '_core', None) or np.core
    types = [multiarray.multiarray._reconstruct, multiarray.multiarray.scalar, np.ndarray,
             np.dtype]
    for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128,
              np.str_, np.bytes_):
        types.append(type(np.dtype(t)))
    return types


_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name: str):
    """Stands in for ``builtins.getattr`` while unpickling, for one use only.

    A ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')`` and so
    on. A general ``getattr`` would hand a crafted file any attribute of any object it can build,
    so this one answers exactly those four lookups and refuses every other.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint: mmbnn allows getattr only '
        f'for HistoryBuffer.{"/".join(_HISTORY_BUFFER_METHODS)}')


#: The pickled types that checkpoints written by mmengine's Runner hold, beyond what torch's
#: weights-only unpickler allows by itself (tensors, containers, primitives). A ``(callable,
#: name)`` pair makes torch resolve ``name`` to ``callable`` (see ``torch.serialization``).
SAFE_CHECKPOINT_GLOBALS: List = [
    HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised for a checkpoint that holds pickled objects outside the allow-list."""


def _name(g) -> str:
    return g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'


def _torch_allowed_globals() -> Set[str]:
    """What torch's weights-only unpickler allows by itself (tensors, storages, dtypes...)."""
    try:  # a private helper; without it nothing is taken as allowed, which names more, not less
        from torch._weights_only_unpickler import _get_allowed_globals
        return set(_get_allowed_globals())
    except (ImportError, AttributeError):
        return set()


def _legacy_pickle_globals(file) -> List[str]:
    """The ``module.name`` of every global that the pickles of a legacy (non-zip) ``torch.save``
    file import, read statically with :mod:`pickletools` (nothing is unpickled).

    A legacy file is a sequence of pickles (magic number, protocol, system info, the object,
    the storage keys) followed by raw storage bytes; the first four are read (the keys hold no
    globals, and the raw bytes must not be parsed as opcodes). ``GLOBAL`` opcodes carry
    ``module name``, ``STACK_GLOBAL`` takes the two strings pushed (or fetched from the memo)
    before it.
    """
    found = []
    with open(file, 'rb') as f:
        for _ in range(4):
            strings, memo = [], {}
            try:
                for op, arg, _pos in pickletools.genops(f):
                    if op.name == 'GLOBAL':
                        module, name = arg.split(' ', 1)
                        found.append(f'{module}.{name}')
                    elif op.name == 'STACK_GLOBAL' and len(strings) >= 2:
                        found.append(f'{strings[-2]}.{strings[-1]}')
                    elif isinstance(arg, str) and ('UNICODE' in op.name or 'STRING' in op.name):
                        strings.append(arg)
                    elif op.name in ('BINPUT', 'LONG_BINPUT', 'PUT') and strings:
                        memo[arg] = strings[-1]
                    elif op.name == 'MEMOIZE' and strings:
                        memo[len(memo)] = strings[-1]
                    elif op.name in ('BINGET', 'LONG_BINGET', 'GET') and arg in memo:
                        strings.append(memo[arg])
            except Exception:  # the raw storage bytes after the last pickle, or a damaged file
                break
    return found


def _foreign_globals(file, trusted: Sequence) -> List[str]:
    """The globals in checkpoint ``file`` that neither torch nor ``trusted`` allow, for zip
    checkpoints (torch's own scan) and legacy non-zip ones (:func:`_legacy_pickle_globals`)."""
    allowed = {_name(g) for g in trusted} | _torch_allowed_globals()
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(file)
    except ValueError:  # not a zip checkpoint
        try:
            found = _legacy_pickle_globals(file)
        except OSError:
            return []
    except Exception:
        return []
    return sorted(set(found) - allowed)


def safe_load(filename: str, map_location: Union[str, Callable, None] = 'cpu',
              extra_globals: Optional[List[Callable]] = None):
    """``torch.load`` with ``weights_only=True`` and mmbnn's allow-list.

    Args:
        filename (str): Path of a local checkpoint.
        map_location: As for :func:`torch.load`. Default: ``'cpu'``.
        extra_globals (list, optional): More types to trust for this call only. Default: None.

    Raises:
        UnsafeCheckpointError: The file holds pickled objects outside the allow-list.
    """
    trusted = SAFE_CHECKPOINT_GLOBALS + list(extra_globals or [])
    try:
        with torch.serialization.safe_globals(trusted):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        foreign = _foreign_globals(filename, trusted)
        if not foreign:  # e.g. a global pushed dynamically: the line of torch's message naming it
            found = re.search(r'GLOBAL ([\w.]+)', str(e)) or re.search(r'(getattr\(.*)', str(e))
            foreign = [found.group(1) if found else str(e).strip().splitlines()[0]]
        what = ', '.join(foreign)
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: it holds pickled objects that are not '
            f'plain weights or Runner state ({what}). mmbnn loads checkpoints with '
            f'weights_only=True and trusts only the mmengine and numpy types that Runner '
            f'checkpoints hold. If you wrote this file yourself and trust it, convert it to a plain '
            f'state_dict, or pass the types to mmbnn.utils.safe_load(extra_globals=[...]).'
        ) from e


#: Functions ``checkpoint -> checkpoint`` that every loaded checkpoint passes through, in order
#: (:func:`register_checkpoint_reader`). The packed 1-bit format registers its reader from
#: :mod:`mmbnn.deploy.packing`, so this module (the lowest layer) knows nothing of it.
CHECKPOINT_READERS: List[Callable] = []


def register_checkpoint_reader(reader: Callable) -> Callable:
    """Register ``reader(checkpoint) -> checkpoint``: :func:`load_from_local` (and so every
    mmengine load of a local file, ``load_from``, ``init_cfg``, ``mmbnn://`` names) hands each
    checkpoint through it. Returns ``reader`` (usable as a decorator); registering twice is a
    no-op."""
    if reader not in CHECKPOINT_READERS:
        CHECKPOINT_READERS.append(reader)
    return reader


def read_checkpoint(checkpoint):
    """``checkpoint`` through every registered reader (:data:`CHECKPOINT_READERS`)."""
    for reader in CHECKPOINT_READERS:
        checkpoint = reader(checkpoint)
    return checkpoint


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location=None):
    """mmengine's loader for local files, with :func:`safe_load` in place of ``torch.load``, the
    result handed through the registered readers (a packed 1-bit checkpoint comes back as an
    ordinary state dict: :func:`mmbnn.deploy.packing.as_loadable_checkpoint`)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return read_checkpoint(safe_load(filename, map_location=map_location))


def strip_module_prefix(checkpoint: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """The weights of a checkpoint as a plain state dict: its ``state_dict`` (or the checkpoint
    itself when it is a state dict already), with the ``module.`` prefix that
    (Distributed)DataParallel wrappers put before every key removed (once, at the start of a
    key; mmengine's ``revise_keys`` default does the same).

    Args:
        checkpoint (Mapping): A checkpoint (``{'state_dict': ..., 'meta': ...}``) or a state dict.
    """
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, Mapping) \
        else checkpoint
    if not isinstance(state, Mapping):
        raise TypeError(f'expected a checkpoint or a state dict, got {type(state).__name__}')
    out = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                      for k, v in state.items())
    metadata = getattr(state, '_metadata', None)
    if metadata is not None:
        out._metadata = metadata  # what nn.Module.load_state_dict reads the versions from
    return out


#: :func:`check_checkpoint_fits` refuses a checkpoint that would set less than this fraction of a
#: model's values ("most of the model would stay uninitialised").
MIN_FIT_FRACTION = 0.5


@dataclass
class CheckpointFit:
    """How a state dict fits a model's (:func:`checkpoint_fit`).

    Attributes:
        matched (int): Tensors of the model that the checkpoint sets (same key, same shape).
        total (int): Tensors of the model (``num_batches_tracked`` counters left out).
        matched_values (int): Values (elements) in the matched tensors.
        total_values (int): Values in all the model's tensors.
        missing (list[str]): Model keys the checkpoint lacks.
        mismatched (list[tuple]): ``(key, checkpoint shape, model shape)``.
        unexpected (list[str]): Checkpoint keys the model lacks.
    """
    matched: int
    total: int
    matched_values: int
    total_values: int
    missing: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Share of the model's values the checkpoint sets (1.0 for a model without any)."""
        return self.matched_values / self.total_values if self.total_values else 1.0

    def summary(self) -> str:
        """``'12 of 240 tensors (3,456 of 1,234,567 values, 0.3%)'``."""
        return (f'{self.matched} of {self.total} tensors ({self.matched_values:,} of '
                f'{self.total_values:,} values, {100 * self.fraction:.1f}%)')

    def details(self, n: int = 5) -> str:
        """The first ``n`` mismatched, missing and unexpected keys, as text."""
        parts = []
        if self.mismatched:
            parts.append('shape differs: ' + ', '.join(
                f'{k} (checkpoint {list(a)}, model {list(b)})' for k, a, b in self.mismatched[:n])
                + (f' and {len(self.mismatched) - n} more' if len(self.mismatched) > n else ''))
        for what, keys in (('missing from the checkpoint', self.missing),
                           ('not in the model', self.unexpected)):
            if keys:
                parts.append(f'{what}: {", ".join(keys[:n])}'
                             + (f' and {len(keys) - n} more' if len(keys) > n else ''))
        return '; '.join(parts)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model it is loaded into (see :func:`check_checkpoint_fits`)."""


def _shape(value) -> Optional[tuple]:
    return tuple(value.shape) if hasattr(value, 'shape') else None


def checkpoint_fit(model: Union[torch.nn.Module, Mapping], checkpoint: Mapping) -> CheckpointFit:
    """Compare a checkpoint with a model's state dict, key by key and shape by shape, as
    ``load_state_dict(strict=False)`` would load it (after :func:`strip_module_prefix`).

    Args:
        model (nn.Module | Mapping): The model, or its state dict.
        checkpoint (Mapping): A checkpoint or a state dict.
    """
    ours = model.state_dict() if isinstance(model, torch.nn.Module) else model
    theirs = strip_module_prefix(checkpoint)
    fit = CheckpointFit(0, 0, 0, 0)
    for key, value in ours.items():
        if key.endswith('num_batches_tracked'):
            continue
        numel = value.numel() if hasattr(value, 'numel') else 0
        fit.total += 1
        fit.total_values += numel
        if key not in theirs:
            fit.missing.append(key)
        elif _shape(theirs[key]) != _shape(value):
            fit.mismatched.append((key, _shape(theirs[key]), _shape(value)))
        else:
            fit.matched += 1
            fit.matched_values += numel
    fit.unexpected = [k for k in theirs if k not in ours and not k.endswith('num_batches_tracked')]
    return fit


def check_checkpoint_fits(model: Union[torch.nn.Module, Mapping], checkpoint: Mapping,
                          source: str = 'the checkpoint', what: Optional[str] = None,
                          min_fraction: float = MIN_FIT_FRACTION, hint: str = '') -> CheckpointFit:
    """Refuse a checkpoint that would leave most of a model uninitialised.

    mmengine loads checkpoints with ``strict=False``: keys that the model lacks, or whose shapes
    differ, are skipped with a warning, and a checkpoint of another model loads "successfully"
    into a model that keeps its random weights (and is then evaluated or fine-tuned as if it
    were trained). A checkpoint that sets less than ``min_fraction`` of the model's values
    (elements of its state dict, BN counters left out) is refused; a partial fit above it (a
    new head for other classes, a few added parameters) loads as before.

    Args:
        model (nn.Module | Mapping): The model, or its state dict.
        checkpoint (Mapping): The checkpoint or state dict to load.
        source (str): The checkpoint's name, for the message. Default: 'the checkpoint'.
        what (str, optional): The model's name, for the message. Default: its class name.
        min_fraction (float): Refuse below this share of the values. Default:
            :data:`MIN_FIT_FRACTION` (0.5).
        hint (str): A sentence added to the message (what the checkpoint is, how to load it).
            Default: ''.

    Returns:
        CheckpointFit: How it fits (when it does).

    Raises:
        CheckpointMismatchError: Less than ``min_fraction`` fits; the message says how many
            tensors and values matched and names the first keys that did not.
    """
    fit = checkpoint_fit(model, checkpoint)
    if fit.fraction < min_fraction:
        name = what or (type(model).__name__ if isinstance(model, torch.nn.Module) else 'the model')
        raise CheckpointMismatchError(
            f'{source} does not fit {name}: it matches {fit.summary()}, so most of the model '
            f'would keep its initial weights; refusing to load it (mmbnn loads a checkpoint only '
            f'when it sets at least {100 * min_fraction:.0f}% of the model\'s values). '
            f'{fit.details()}.{(" " + hint) if hint else ""}')
    return fit
