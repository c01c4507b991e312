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
"""
import os.path as osp
import pickle
import pickletools
import re
from typing import Callable, List, Optional, Sequence, Set, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

__all__ = ['SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'safe_load', 'load_from_local']


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


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location=None):
    """mmengine's loader for local files, with :func:`safe_load` in place of ``torch.load``; a
    packed 1-bit checkpoint comes back as an ordinary state dict
    (:func:`mmbnn.deploy.packing.as_loadable_checkpoint`)."""
    from mmbnn.deploy.packing import as_loadable_checkpoint  # deploy imports this module
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return as_loadable_checkpoint(safe_load(filename, map_location=map_location))
