from .checkpoint import SAFE_CHECKPOINT_GLOBALS, UnsafeCheckpointError, safe_load
from .launch import prepare_launcher

__all__ = ['SAFE_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'safe_load', 'prepare_launcher']
