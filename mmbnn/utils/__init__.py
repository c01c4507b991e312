from .checkpoint import SAFE_CHECKPOINT_GLOBALS, UnsafeCheckpointError, safe_load
from .configs import config_path, package_root
from .launch import prepare_launcher

__all__ = ['SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'safe_load', 'prepare_launcher',
           'config_path', 'package_root']
