"""mmbnn's registries: children of mmengine's root registries with scope ``mmbnn``.

Because they are children of the root, a config of any OpenMMLab toolbox can name an mmbnn module
as ``type='mmbnn.X'`` without ``custom_imports``: mmengine imports ``mmbnn.registry`` on seeing the
``mmbnn.`` prefix, and the ``locations`` below are imported lazily on the first lookup.
"""
import difflib
import importlib
import importlib.util
import inspect
from typing import Dict, List, Sequence

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import Registry

__all__ = ['MODELS', 'HOOKS', 'DATASETS', 'ROOT_MODELS', 'build_from_mmbnn', 'build_with_channels',
           'TOOLBOX_EXTRAS', 'SKIPPED_MODULES', 'toolbox_available', 'import_for_toolbox',
           'OPTIMIZERS', 'OPTIM_WRAPPER_CONSTRUCTORS']

#: mmengine's root model registry. Binary conv and linear layers are registered here as well,
#: as mmcv registers its own conv layers, so that a plain ``conv_cfg=dict(type='BinaryConv2d')``
#: resolves from any default scope once mmbnn is imported.
ROOT_MODELS = MMENGINE_MODELS

#: The optional OpenMMLab toolboxes (import name) and mmbnn's extra that installs each.
TOOLBOX_EXTRAS = {'mmdet': 'det', 'mmseg': 'seg', 'mmpretrain': 'cls'}

#: mmbnn modules left unimported (so their classes unregistered) because the toolbox they build on
#: is not installed: module name -> toolbox import name. Filled by :func:`import_for_toolbox`.
SKIPPED_MODULES: Dict[str, str] = {}


def toolbox_available(name: str) -> bool:
    """Whether the package ``name`` can be imported (found on the path; not imported here).

    An installed toolbox that fails to import is "available": importing it then raises, as it
    should, instead of its mmbnn modules silently disappearing.
    """
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # blocked by a finder, or sys.modules[name] is None
        return False


def import_for_toolbox(toolbox: str, package: str, modules: Sequence[str],
                       namespace: dict) -> List[str]:
    """Import the sub-modules ``modules`` of ``package`` (registering their classes) if the
    toolbox ``toolbox`` is installed, and copy their ``__all__`` names into ``namespace`` (the
    package's ``globals()``); otherwise import nothing and record them in
    :data:`SKIPPED_MODULES`, so that a lookup of one of their classes says which toolbox to
    install. Returns the names added.

    mmbnn's packages call it from their ``__init__`` for their toolbox-specific parts: with only
    mmpretrain installed, ``mmbnn.GroupNetResNet`` builds and ``mmbnn.GroupNetFCOSHead`` is
    refused with a message naming mmdet. Import errors of an installed toolbox propagate.
    """
    if toolbox not in TOOLBOX_EXTRAS:
        raise ValueError(f'unknown toolbox {toolbox!r}; one of {list(TOOLBOX_EXTRAS)}')
    if not toolbox_available(toolbox):
        for name in modules:
            SKIPPED_MODULES[f'{package}.{name}'] = toolbox
        return []
    added = []
    for name in modules:
        module = importlib.import_module(f'{package}.{name}')
        for attr in module.__all__:
            namespace[attr] = getattr(module, attr)
            added.append(attr)
    return added


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
                           f'registry{hint}{self._skipped_hint()}')
        return obj

    def _skipped_hint(self) -> str:
        """Which of this registry's modules were not imported for want of their toolbox."""
        skipped = {}
        for module, toolbox in SKIPPED_MODULES.items():
            if any(module.startswith(loc + '.') for loc in self._locations):
                skipped.setdefault(toolbox, []).append(module)
        return ''.join(
            f'; {", ".join(sorted(mods))} not imported: {toolbox} is not installed (pip '
            f'install {toolbox if toolbox != "mmseg" else "mmsegmentation"}, or mmbnn[{extra}])'
            for toolbox, mods in sorted(skipped.items())
            for extra in [TOOLBOX_EXTRAS[toolbox]])

    def __contains__(self, key):
        try:
            return self.get(key) is not None
        except KeyError:
            return False


MODELS = _Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmbnn',
    locations=['mmbnn.binarizers', 'mmbnn.layers', 'mmbnn.models', 'mmbnn.deploy'])

HOOKS = _Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmbnn', locations=['mmbnn.engine'])

DATASETS = _Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='mmbnn', locations=['mmbnn.datasets'])

#: Optimizers (``type='mmbnn.Bop'``) and optimizer wrapper constructors
#: (``constructor='mmbnn.BinaryOptimWrapperConstructor'``).
OPTIMIZERS = _Registry(
    'optimizer', parent=MMENGINE_OPTIMIZERS, scope='mmbnn', locations=['mmbnn.engine'])

OPTIM_WRAPPER_CONSTRUCTORS = _Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='mmbnn',
    locations=['mmbnn.engine'])


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
