"""Recording what named sub-modules return, through forward hooks (no change to their classes).

A *source* names a module by its path in ``model.named_modules()`` (``'head.fc'``,
``'backbone.layer1'``, ``'neck'``), optionally followed by ``[i]`` to take element ``i`` of what
it returns (``'backbone.layer1[0]'`` for a module returning a tuple). A module called once per
forward pass records its output; a module called several times (a detection head's conv, shared
by the pyramid levels) records the list of its outputs in call order, and ``[i]`` applies to
each of them.
"""
import difflib
import functools
import re
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple, Union

from torch import nn

__all__ = ['OutputRecorder', 'parse_source']

_SOURCE_RE = re.compile(r'^(?P<name>[A-Za-z0-9_.]+)(\[(?P<index>-?\d+)\])?$')
Source = Union[str, Sequence[str]]


def parse_source(source: str) -> Tuple[str, Optional[int]]:
    """``'a.b[1]'`` -> ``('a.b', 1)``; ``'a.b'`` -> ``('a.b', None)``."""
    m = _SOURCE_RE.match(source) if isinstance(source, str) else None
    if m is None:
        raise ValueError(f"a source is a module name, optionally with an index ('head.fc', "
                         f"'backbone.layer1[0]'); got {source!r}")
    index = m.group('index')
    return m.group('name'), None if index is None else int(index)


def _flatten(sources: Source) -> List[str]:
    return [sources] if isinstance(sources, str) else list(sources)


class OutputRecorder:
    """Forward hooks on the modules that ``sources`` name in ``model``; they keep the outputs
    while :meth:`recording` is on and do nothing otherwise.

    Args:
        model (nn.Module): The model whose modules are recorded.
        sources (sequence[str]): The sources (module docstring) to record.
        owner (str): Who the model is, for messages (``'student'``, ``'teacher'``).

    Raises:
        KeyError: A source names no module of ``model`` (the message lists close names).
    """

    def __init__(self, model: nn.Module, sources: Sequence[str], owner: str = 'model'):
        self.owner = owner
        modules = dict(model.named_modules())
        self.names = list(dict.fromkeys(parse_source(s)[0] for s in sources))
        for name in self.names:
            if name not in modules or name == '':
                close = difflib.get_close_matches(name, [n for n in modules if n], n=3)
                hint = f'; did you mean {", ".join(close)}?' if close else ''
                raise KeyError(f'the {owner} has no module {name!r}{hint}')
        self.active = False
        self._records: Dict[str, list] = {}
        self._handles = [modules[name].register_forward_hook(functools.partial(self._hook, name))
                         for name in self.names]

    def _hook(self, name, module, args, output):
        if self.active:
            self._records.setdefault(name, []).append(output)

    @contextmanager
    def recording(self):
        """Record the forward passes run inside the ``with`` block (earlier records are
        dropped); the records stay readable after it until :meth:`clear`."""
        self._records = {}
        self.active = True
        try:
            yield self
        finally:
            self.active = False

    def get(self, sources: Source):
        """The recorded value of a source, or the list of values of a list of sources."""
        if not isinstance(sources, str):
            return [self.get(s) for s in sources]
        name, index = parse_source(sources)
        calls = self._records.get(name)
        if not calls:
            raise RuntimeError(f'the {self.owner} module {name!r} did not run in the recorded '
                               'forward pass')
        if index is not None:
            try:
                calls = [out[index] for out in calls]
            except (TypeError, IndexError, KeyError) as e:
                raise IndexError(f'{sources!r}: the {self.owner} module {name!r} returned '
                                 f'{type(calls[0]).__name__}, which has no element {index}'
                                 ) from e
        return calls[0] if len(calls) == 1 else calls

    def clear(self):
        self._records = {}

    def remove(self):
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._records = {}
