"""Read and write OpenMMLab ``metafile.yml`` entries: a summary's counts into a model's
``Metadata`` (so that the model zoo and the summary tool never disagree), a published model's
``Weights``, hash and ``Results``, new entries and new metafiles of the model index.

Files are read with ``yaml.safe_load`` and written back with ``yaml.safe_dump(sort_keys=False)``:
every key keeps its value and order, YAML comments are not kept. Each writer reads the file right
before it writes, so entries that others added in the meantime are kept.
"""
import copy
import os
import os.path as osp
from typing import Dict, List, Optional

import yaml

from .summary import ModelSummary

__all__ = ['update_metafile', 'metafile_metadata', 'read_metafile', 'write_metafile',
           'find_model_entry', 'set_model_entry', 'add_metafile_to_index']


def metafile_metadata(summary: ModelSummary) -> Dict[str, int]:
    """``FLOPs``, ``BOPs``, ``OPs`` (rounded) and ``Parameters`` as integers."""
    return dict(FLOPs=int(summary.flops), BOPs=int(summary.bops), OPs=int(round(summary.ops)),
                Parameters=int(summary.params))


def read_metafile(path: str) -> dict:
    """The metafile's mapping (empty if the file is empty)."""
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a mapping at the top level, got '
                         f'{type(data).__name__}')
    return data


def write_metafile(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` (through a temporary file and ``os.replace``)."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True, default_flow_style=False)
    os.replace(tmp, path)


def find_model_entry(data: dict, model_name: str) -> Optional[dict]:
    """The ``Models`` entry named ``model_name`` in a metafile's mapping, or None."""
    return next((m for m in data.get('Models') or []
                 if isinstance(m, dict) and m.get('Name') == model_name), None)


def update_metafile(path: str, model_name: str, summary: ModelSummary) -> dict:
    """Set ``FLOPs``, ``BOPs``, ``OPs`` and ``Parameters`` in the ``Metadata`` of the model named
    ``model_name`` (an entry of the top-level ``Models`` list) and write the file back.
    Returns the model's new ``Metadata``.

    Raises:
        KeyError: No model of that name in the file (the message lists the names there).
    """
    meta = read_metafile(path)
    model = find_model_entry(meta, model_name)
    if model is None:
        names = [m.get('Name') for m in meta.get('Models') or [] if isinstance(m, dict)]
        raise KeyError(f'No model named {model_name!r} in {path}; models there: {names}')
    metadata = model.get('Metadata') or {}
    metadata.update(metafile_metadata(summary))
    model['Metadata'] = metadata
    write_metafile(path, meta)
    return metadata


def set_model_entry(path: str, model_name: str, *, weights: Optional[str] = None,
                    metadata: Optional[dict] = None, results: Optional[List[dict]] = None,
                    new_entry: Optional[dict] = None,
                    collection: Optional[dict] = None) -> dict:
    """Set a model's ``Weights``, ``Metadata`` keys and ``Results`` in metafile ``path``.

    Only the given fields change: ``metadata`` is merged into the entry's ``Metadata``,
    ``results`` replaces ``Results``. A model that the file does not list is added as
    ``new_entry`` (``Name``, ``In Collection``, ``Metadata``, ``Config``...) with those fields
    on top; ``collection`` (a ``Collections`` item) is added to the file's ``Collections`` when
    no collection of its name is there. A missing file is created.

    Returns:
        dict: The model's entry as written.

    Raises:
        KeyError: The model is not in the file and no ``new_entry`` was given.
    """
    data = read_metafile(path) if osp.isfile(path) else {}
    entry = find_model_entry(data, model_name)
    if entry is None:
        if new_entry is None:
            names = [m.get('Name') for m in data.get('Models') or [] if isinstance(m, dict)]
            raise KeyError(f'No model named {model_name!r} in {path}; models there: {names}')
        entry = {'Name': model_name,
                 **{k: v for k, v in copy.deepcopy(new_entry).items() if k != 'Name'}}
        data.setdefault('Models', []).append(entry)
    if collection is not None:
        collections = data.setdefault('Collections', [])
        if not any(c.get('Name') == collection['Name'] for c in collections):
            collections.append(copy.deepcopy(collection))
        if list(data)[0] != 'Collections':  # OpenMMLab order: Collections, then Models
            data = dict(Collections=data.pop('Collections'), **data)
            entry = find_model_entry(data, model_name)
    if metadata:
        entry['Metadata'] = {**(entry.get('Metadata') or {}), **metadata}
    if results is not None:
        entry['Results'] = copy.deepcopy(results)
    if weights is not None:
        entry['Weights'] = weights
    write_metafile(path, data)
    return entry


def add_metafile_to_index(index: str, metafile: str) -> bool:
    """List ``metafile`` in the ``Import`` of the root ``model-index.yml`` ``index`` (as a path
    relative to it) unless it is there. Returns whether it was added."""
    rel = osp.relpath(osp.abspath(metafile), osp.dirname(osp.abspath(index))).replace(os.sep, '/')
    data = read_metafile(index)
    imports = data.setdefault('Import', [])
    if rel in imports:
        return False
    imports.append(rel)
    imports.sort()
    write_metafile(index, data)
    return True
