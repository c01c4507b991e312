"""Write a summary's counts into a model's ``Metadata`` in an OpenMMLab ``metafile.yml``, so that
the model zoo and the summary tool never disagree."""
from typing import Dict

import yaml

from .summary import ModelSummary

__all__ = ['update_metafile', 'metafile_metadata']


def metafile_metadata(summary: ModelSummary) -> Dict[str, int]:
    """``FLOPs``, ``BOPs``, ``OPs`` (rounded) and ``Parameters`` as integers."""
    return dict(FLOPs=int(summary.flops), BOPs=int(summary.bops), OPs=int(round(summary.ops)),
                Parameters=int(summary.params))


def update_metafile(path: str, model_name: str, summary: ModelSummary) -> dict:
    """Set ``FLOPs``, ``BOPs``, ``OPs`` and ``Parameters`` in the ``Metadata`` of the model named
    ``model_name`` (an entry of the top-level ``Models`` list) and write the file back.

    Every other key keeps its value and order (``yaml.safe_load`` / ``safe_dump`` with
    ``sort_keys=False``; YAML comments are not kept). Returns the model's new ``Metadata``.

    Raises:
        KeyError: No model of that name in the file (the message lists the names there).
    """
    with open(path) as f:
        meta = yaml.safe_load(f) or {}
    models = meta.get('Models') or []
    model = next((m for m in models if isinstance(m, dict) and m.get('Name') == model_name),
                 None)
    if model is None:
        names = [m.get('Name') for m in models if isinstance(m, dict)]
        raise KeyError(f'No model named {model_name!r} in {path}; models there: {names}')
    metadata = model.get('Metadata') or {}
    metadata.update(metafile_metadata(summary))
    model['Metadata'] = metadata
    with open(path, 'w') as f:
        yaml.safe_dump(meta, f, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return metadata
