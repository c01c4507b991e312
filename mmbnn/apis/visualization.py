"""Test-time drawing through each toolbox's own visualization hook and visualizer.

What ``tools/test.py --show / --show-dir`` does, as the toolboxes' own ``tools/test.py`` do it:
turn on the config's ``default_hooks.visualization`` (mmdet's ``DetVisualizationHook``, mmseg's
``SegVisualizationHook``, mmpretrain's ``VisualizationHook``), which draws every test sample with
the config's ``visualizer`` (``DetLocalVisualizer``, ``SegLocalVisualizer``,
``UniversalVisualizer``). Nothing is drawn by hand.

One thing differs from the toolboxes, on purpose: where the pictures go. mmdet writes them to
``WORK_DIR/TIMESTAMP/SHOW_DIR``; mmseg's tool writes them to ``SHOW_DIR/vis_data/vis_image`` and
mmpretrain's to ``SHOW_DIR``, both relative to the current directory. mmbnn puts all three under
``WORK_DIR/TIMESTAMP/SHOW_DIR`` (an absolute ``SHOW_DIR`` is used as it is), one picture per test
sample (per ``interval``-th sample or batch, see :func:`enable_test_visualization`).
"""
import importlib
import os
import os.path as osp
import sys
from typing import Optional

from mmengine.config import Config

from .toolbox import TOOLBOXES, import_toolbox, toolbox_of

__all__ = ['has_display', 'enable_test_visualization', 'finish_test_visualization']


def has_display() -> bool:
    """Whether a window can be opened: on Linux and other X11/Wayland systems, ``DISPLAY`` or
    ``WAYLAND_DISPLAY`` must be set; macOS and Windows always have one."""
    if sys.platform in ('darwin', 'win32'):
        return True
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


def _runtime_hint(scope: str) -> str:
    return f"(as {scope}'s configs/_base_/default_runtime.py has it; inherit it with " \
           f"_base_ = '{scope}::_base_/default_runtime.py')"


def enable_test_visualization(cfg: Config, show: bool = False, show_dir: Optional[str] = None,
                              wait_time: float = 2., interval: int = 1) -> str:
    """Turn on the config's visualization hook for ``Runner.test()``, in place.

    Args:
        cfg (Config): A test config of mmdet, mmseg or mmpretrain (its ``default_scope``).
        show (bool): Show every drawn picture in a window (needs a display). Default: False.
        show_dir (str, optional): Where to save the drawn pictures, relative to
            ``WORK_DIR/TIMESTAMP`` (made final by :func:`finish_test_visualization` once the
            Runner is built). Default: None.
        wait_time (float): Seconds each shown picture stays. Default: 2.
        interval (int): Draw every ``interval``-th test sample (mmpretrain) or batch (mmseg).
            mmdet's hook draws every test image, so mmdet configs take only 1. Default: 1.

    Returns:
        str: The toolbox (default scope).

    Raises:
        RuntimeError: ``show`` without a display; the config has no
            ``default_hooks.visualization`` or no ``visualizer``.
        ValueError: ``interval`` is not a positive integer, or is not 1 for mmdet.
    """
    scope = toolbox_of(cfg)
    info = TOOLBOXES[scope]
    if not (show or show_dir):
        raise ValueError('enable_test_visualization needs show=True or a show_dir')
    if show and not has_display():
        raise RuntimeError(
            '--show opens a window, but this machine has no display (DISPLAY / WAYLAND_DISPLAY '
            'is not set); save the drawn pictures with --show-dir DIR instead')
    if not isinstance(interval, int) or interval < 1:
        raise ValueError(f'--interval must be a positive integer, got {interval!r}')
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in hooks:
        raise RuntimeError(
            f"--show / --show-dir draw through {scope}'s {info['hook']}, but the config has no "
            f"default_hooks.visualization; add default_hooks = dict(visualization=dict("
            f"type='{info['hook']}')) {_runtime_hint(scope)}")
    if not cfg.get('visualizer'):
        raise RuntimeError(
            f"--show / --show-dir draw with {scope}'s {info['visualizer']}, but the config has "
            f"no `visualizer` (mmengine's default Visualizer cannot draw {info['task']} "
            f"results); add visualizer = dict(type='{info['visualizer']}', "
            f"vis_backends=[dict(type='LocalVisBackend')], name='visualizer') "
            f"{_runtime_hint(scope)}")
    hook = hooks['visualization']
    if scope == 'mmdet':
        if interval != 1:
            raise ValueError("--interval: mmdet's DetVisualizationHook draws every test image; "
                             "the option works with mmseg and mmpretrain configs")
        hook['draw'] = True
        if show:
            hook['show'] = True
            hook['wait_time'] = wait_time
        if show_dir:
            hook['test_out_dir'] = show_dir  # the hook puts it under WORK_DIR/TIMESTAMP
    elif scope == 'mmseg':
        hook['draw'] = True
        hook['interval'] = interval
        if show:
            hook['show'] = True
            hook['wait_time'] = wait_time
    else:  # mmpretrain
        hook['enable'] = True
        hook['show'] = show
        hook['wait_time'] = wait_time
        hook['interval'] = interval
        hook['out_dir'] = show_dir
    return scope


def finish_test_visualization(runner, show_dir: Optional[str] = None) -> Optional[str]:
    """Check the built Runner's hook and visualizer, and point the pictures at
    ``WORK_DIR/TIMESTAMP/SHOW_DIR``.

    Call after :func:`enable_test_visualization` and ``Runner.from_cfg``, before
    ``runner.test()``.

    Returns:
        str | None: The folder the pictures go to (None without ``show_dir``).

    Raises:
        RuntimeError: The hook or the visualizer is not the toolbox's (another class cannot
            draw these results, or takes other options).
    """
    scope = toolbox_of(runner.cfg)
    info = TOOLBOXES[scope]
    import_toolbox(scope)
    vis_cls = getattr(importlib.import_module(f'{scope}.visualization'), info['visualizer'])
    hook_cls = getattr(importlib.import_module(f'{scope}.engine.hooks'), info['hook'])
    if not isinstance(runner.visualizer, vis_cls):
        raise RuntimeError(
            f"--show / --show-dir need {scope}'s {info['visualizer']} (or a subclass) as the "
            f"config's `visualizer`; got {type(runner.visualizer).__name__}")
    hooks = [h for h in runner.hooks if isinstance(h, hook_cls)]
    if not hooks:
        names = ', '.join(type(h).__name__ for h in runner.hooks)
        raise RuntimeError(
            f"--show / --show-dir need {scope}'s {info['hook']} (or a subclass) as "
            f"default_hooks.visualization; the Runner's hooks are {names}")
    for hook in hooks:
        # The hooks take Visualizer.get_current_instance() when built. In a process that built
        # a visualizer of the same name before (a second test run, an Inferencer), mmengine
        # returns the Runner's visualizer from build but keeps an older instance as "current":
        # draw with the Runner's.
        hook._visualizer = runner.visualizer
    if not show_dir:
        return None
    out_dir = osp.join(runner.log_dir, show_dir)  # log_dir is WORK_DIR/TIMESTAMP, absolute
    if scope == 'mmpretrain':
        for hook in hooks:
            hook.out_dir = out_dir
    elif scope == 'mmseg':
        # SegVisualizationHook draws to the visualizer's storage backends only; save the
        # pictures to out_dir with a LocalVisBackend there (replacing the config's local one).
        from mmengine.visualization import LocalVisBackend
        backends = runner.visualizer._vis_backends  # the toolboxes' hooks edit it the same way
        for name in [k for k, b in backends.items() if isinstance(b, LocalVisBackend)]:
            del backends[name]
        backends['LocalVisBackend'] = LocalVisBackend(save_dir=runner.log_dir,
                                                      img_save_dir=out_dir)
    return out_dir
