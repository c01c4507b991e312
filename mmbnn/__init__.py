"""mmbnn: binary (1-bit) neural networks for OpenMMLab."""
from . import utils  # noqa: F401  (installs the safe checkpoint loader into mmengine)
from . import zoo  # noqa: F401  (registers the mmbnn:// checkpoint scheme)
from .registry import HOOKS, MODELS
from .utils import config_path
from .version import __version__

__all__ = ['__version__', 'MODELS', 'HOOKS', 'config_path']
