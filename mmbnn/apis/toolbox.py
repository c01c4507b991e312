"""Which OpenMMLab toolbox a config belongs to, and that toolbox's drawing and inference classes.

mmbnn's tools take configs of mmdet, mmseg and mmpretrain alike; everything toolbox-specific
(the visualization hook that draws test results, the visualizer it draws with, the Inferencer
that runs one image) is looked up here from the config's ``default_scope``.
"""
import importlib
from typing import Union

from mmengine.config import Config

__all__ = ['TOOLBOXES', 'toolbox_of', 'import_toolbox']

#: default_scope -> the toolbox's test-time visualization hook, its visualizer, its Inferencer
#: (``module:Class``) and what it predicts.
TOOLBOXES = {
    'mmdet': dict(hook='DetVisualizationHook', visualizer='DetLocalVisualizer',
                  inferencer='mmdet.apis:DetInferencer', task='detection',
                  package='mmdet'),
    'mmseg': dict(hook='SegVisualizationHook', visualizer='SegLocalVisualizer',
                  inferencer='mmseg.apis:MMSegInferencer', task='segmentation',
                  package='mmsegmentation'),
    'mmpretrain': dict(hook='VisualizationHook', visualizer='UniversalVisualizer',
                       inferencer='mmpretrain.apis:ImageClassificationInferencer',
                       task='classification', package='mmpretrain'),
}


def toolbox_of(cfg: Union[Config, str]) -> str:
    """The toolbox (``'mmdet'``, ``'mmseg'`` or ``'mmpretrain'``) of a config, from its
    ``default_scope``.

    Args:
        cfg (Config | str): A config or the path of one.

    Raises:
        ValueError: The config has no ``default_scope`` or names another one.
    """
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    scope = cfg.get('default_scope')
    if scope not in TOOLBOXES:
        raise ValueError(
            f'default_scope = {scope!r} in the config: mmbnn\'s tools need the toolbox of the '
            f'model as the default scope, one of {", ".join(map(repr, TOOLBOXES))} (inherit the '
            f'toolbox\'s configs/_base_/default_runtime.py, or set default_scope yourself)')
    return scope


def import_toolbox(scope: str):
    """Import a toolbox (the default scope's package), with an error that says how to get it."""
    try:
        return importlib.import_module(scope)
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            f'this config is for {scope} (default_scope={scope!r}), which is not installed: '
            f'pip install {TOOLBOXES[scope]["package"]}') from e


def toolbox_class(scope: str, key: str):
    """The class ``TOOLBOXES[scope][key]`` names (``inferencer``), imported."""
    module, name = TOOLBOXES[scope][key].split(':')
    import_toolbox(scope)
    return getattr(importlib.import_module(module), name)
