from .checkpoint import (MIN_FIT_FRACTION, SAFE_CHECKPOINT_GLOBALS, CheckpointFit,
                         CheckpointMismatchError, UnsafeCheckpointError, check_checkpoint_fits,
                         checkpoint_fit, safe_load, strip_module_prefix)
from .configs import config_path, package_root
from .launch import prepare_checkpoint_hooks, prepare_launcher

__all__ = ['SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'safe_load', 'prepare_launcher',
           'config_path', 'package_root', 'strip_module_prefix', 'CheckpointFit',
           'CheckpointMismatchError', 'checkpoint_fit', 'check_checkpoint_fits', 'MIN_FIT_FRACTION',
           'prepare_checkpoint_hooks']
