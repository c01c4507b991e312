"""Binary necks (they import mmdet)."""
from .binary_fpn import BinaryFPN

__all__ = ['BinaryFPN']
