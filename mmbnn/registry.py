"""mmbnn's registries: children of mmengine's root registries with scope ``mmbnn``.

Because they are children of the root, a config of any OpenMMLab toolbox can name an mmbnn module
as ``type='mmbnn.X'`` without ``custom_imports``: mmengine imports ``mmbnn.registry`` on seeing the
``mmbnn.`` prefix, and the ``locations`` below are imported lazily on the first lookup.
"""
import difflib
import inspect

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

__all__ = ['MODELS', 'HOOKS', 'DATASETS', 'ROOT_MODELS', 'build_from_mmbnn', 'build_with_channels']

#: mmengine's root model registry. Binary conv and linear layers are registered here as well,
#: as mmcv registers its own conv layers, so that a plain ``conv_cfg=dict(type='BinaryConv2d')``
#: resolves from any default scope once mmbnn is imported.
ROOT_MODELS = MMENGINE_MODELS

class _Registry(Registry):
    """A registry whose failed lookups say what was asked for and what is close to it.

    mmengine returns None for an unknown type and some callers format that None into their error
    (mmcv's ``build_conv_layer`` says "Cannot find None in registry"); mmbnn's registries raise a
    ``KeyError`` naming the type instead, with the closest registered names.
    """

    def get(self, key):
        obj = super().get(key)
        if obj is None:
            name = key.split('.')[-1] if isinstance(key, str) else key
            close = difflib.get_close_matches(str(name), list(self.module_dict), n=3)
            hint = f'; did you mean {", ".join(close)}?' if close else ''
            raise KeyError(f'{key!r} is not registered in the {self.scope}::{self.name} '
                           f'registry{hint}')
        return obj

    def __contains__(self, key):
        try:
            return self.get(key) is not None
        except KeyError:
            return False


MODELS = _Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmbnn',
    locations=['mmbnn.binarizers', 'mmbnn.layers', 'mmbnn.models'])

HOOKS = _Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmbnn', locations=['mmbnn.engine'])

DATASETS = _Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='mmbnn', locations=['mmbnn.datasets'])


def build_from_mmbnn(cfg, registry: Registry = MODELS, **default_args):
    """Build ``cfg`` from one of mmbnn's registries, whatever the current default scope.

    mmengine's ``Registry.build`` looks a plain type up in the registry of the *current default
    scope* (``mmdet`` inside an mmdet model, say), where mmbnn's own names are missing. mmbnn's
    modules build their parts through this function, which pins the scope to ``mmbnn`` unless
    the config names one with ``_scope_``.
    """
    cfg = dict(cfg)
    cfg.setdefault('_scope_', 'mmbnn')
    return registry.build(cfg, default_args=default_args or None)


def build_with_channels(cfg, channels=None, registry: Registry = MODELS):
    """:func:`build_from_mmbnn`, passing ``channels`` to the classes whose constructor takes it
    (per-channel binarizers and activations such as ``RSign`` and ``RPReLU``) unless the config
    sets it; classes without that argument (``ReLU``, ``STESign``) are built as they are."""
    cls = cfg['type'] if inspect.isclass(cfg['type']) else registry.get(cfg['type'])
    if channels is not None and 'channels' in inspect.signature(cls).parameters:
        return build_from_mmbnn(cfg, registry, channels=channels)
    return build_from_mmbnn(cfg, registry)
