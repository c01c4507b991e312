"""Refuse a zoo model loaded into a config of another architecture.

``tools/test.py configs/quickstart/fcos_groupnet-r18_shapes.py mmbnn://resnet18-w16_1xb64_digits``
would load a digits classifier into a detector: mmengine skips every key that does not fit, warns,
and evaluates a detector with random weights. :func:`check_zoo_architecture` compares the model
of the zoo entry's ``Config`` with the config's before anything is loaded, by
:func:`architecture`: the model's type and the types of its direct parts (backbone, neck,
heads); a difference is another architecture. Arguments (depth, number of bases, classes) are
left to :func:`mmbnn.utils.check_checkpoint_fits`, which refuses a checkpoint that leaves most of
the model uninitialised and lets a partial fit (a new head) load.
"""
import os.path as osp
from typing import Optional, Tuple

from mmengine.config import Config

from mmbnn.utils import CheckpointMismatchError
from .download import SCHEME
from .index import find_model_index, get_model_info

__all__ = ['ArchitectureMismatchError', 'architecture', 'describe_architecture',
           'zoo_config_hint', 'check_zoo_architecture']


class ArchitectureMismatchError(CheckpointMismatchError):
    """A zoo model's config builds another architecture than the config it is loaded into."""


def _type(cfg) -> Optional[str]:
    """A registry type without its scope: ``'mmbnn.GroupNetResNet'`` -> ``'GroupNetResNet'``."""
    value = cfg.get('type') if isinstance(cfg, dict) else None
    if value is None:
        return None
    return (value if isinstance(value, str) else getattr(value, '__name__', str(value))
            ).split('.')[-1]


def architecture(model_cfg: dict) -> Tuple:
    """``(model type, ((part, type), ...))``: the model's type and those of its direct parts
    that have one (the data preprocessor left out: it is not part of the weights)."""
    parts = tuple(sorted((key, _type(value)) for key, value in model_cfg.items()
                         if key != 'data_preprocessor' and _type(value) is not None))
    return _type(model_cfg), parts


def describe_architecture(model_cfg: dict) -> str:
    """``'FCOS (backbone GroupNetResNet, bbox_head GroupNetFCOSHead, neck BinaryFPN)'``."""
    kind, parts = architecture(model_cfg)
    inside = ', '.join(f'{k} {t}' for k, t in parts)
    return f'{kind} ({inside})' if inside else str(kind)


def _relative(path: str) -> str:
    try:
        root = osp.dirname(osp.realpath(find_model_index()))
        rel = osp.relpath(osp.realpath(path), root)
        return path if rel.startswith('..') else rel
    except (FileNotFoundError, ValueError):
        return path


def zoo_config_hint(checkpoint: str) -> str:
    """For ``mmbnn://NAME``: a sentence naming the config the model was trained with and the
    command that evaluates it; '' for other checkpoints or names the index lacks."""
    if not str(checkpoint).startswith(SCHEME):
        return ''
    name = checkpoint[len(SCHEME):]
    try:
        info = get_model_info(name)
    except (KeyError, FileNotFoundError):
        return ''
    if not info.config:
        return ''
    config = _relative(info.config)
    return (f'{checkpoint} was trained with {config}; evaluate it with python tools/test.py '
            f'{config} {checkpoint}.')


def check_zoo_architecture(cfg: Config, checkpoint: str) -> None:
    """Refuse ``mmbnn://NAME`` for a config whose model is another architecture
    (:func:`architecture`) than that of the entry's ``Config``. Other checkpoints, and entries
    without a config file, pass.

    Raises:
        ArchitectureMismatchError: The two architectures differ; the message names the entry's
            config, both architectures, and how to evaluate or partly reuse the model.
    """
    if not str(checkpoint).startswith(SCHEME):
        return
    name = checkpoint[len(SCHEME):]
    info = get_model_info(name)
    if not info.config or not osp.isfile(info.config):
        return
    theirs = Config.fromfile(info.config).to_dict()['model']
    ours = cfg.to_dict()['model']
    if architecture(theirs) == architecture(ours):
        return
    config = _relative(info.config)
    raise ArchitectureMismatchError(
        f'{checkpoint} was trained with {config}, whose model is {describe_architecture(theirs)}; '
        f'this config builds {describe_architecture(ours)}, so its weights would not fit (they '
        f'would be skipped and the model would run on its initial weights). Evaluate it with '
        f'its own config: python tools/test.py {config} {checkpoint}; to initialise one part of '
        f'this model from it, give that part init_cfg=dict(type=\'Pretrained\', '
        f'checkpoint=\'{checkpoint}\', prefix=\'backbone.\') instead of load_from.')
