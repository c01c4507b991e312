"""Where mmbnn's configs are, for projects that inherit them.

mmengine's ``_base_ = 'pkg::path'`` syntax accepts only the packages listed in
``mmengine.config.utils.MODULE2PACKAGE``. Importing mmbnn adds ``mmbnn`` to that list (nothing
else is changed), so in any process that has imported mmbnn, mmbnn's tools included,

    _base_ = 'mmbnn::groupnet/groupnet-r18-5b_8xb32_in1k.py'

resolves to the installed config (``mmbnn/.mim/configs/...``, as for mmdet). For a tool that never
imports mmbnn (say, mmdet's own ``tools/train.py``), name the file with :func:`config_path`:

    _base_ = __import__('mmbnn').config_path('groupnet/groupnet-r18-5b_8xb32_in1k.py')

mmengine evaluates the ``_base_`` expression on its own, so this works from any tool.
"""
import difflib
import os
import os.path as osp

from mmengine.config import utils as config_utils

__all__ = ['config_path', 'package_root']


def package_root() -> str:
    """The folder that holds ``configs/``, ``tools/`` and ``model-index.yml``: ``mmbnn/.mim`` of
    the installed package (in an editable checkout it links to the repository's files)."""
    return osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim')


def config_path(name: str) -> str:
    """The absolute path of an mmbnn config, e.g. ``config_path('groupnet/x.py')``.

    Raises:
        FileNotFoundError: No such config; the message lists the closest names.
    """
    root = osp.join(package_root(), 'configs')
    path = osp.join(root, name)
    if osp.isfile(path):
        return path
    known = [osp.relpath(osp.join(d, f), root) for d, _, files in os.walk(root)
             for f in files if f.endswith('.py')]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    raise FileNotFoundError(f'mmbnn has no config {name!r} under {root}'
                            + (f'; did you mean {", ".join(close)}?' if close else ''))


config_utils.MODULE2PACKAGE.setdefault('mmbnn', 'mmbnn')
