"""Binary dense heads (they import mmdet)."""
from .groupnet_fcos_head import GroupNetFCOSHead

__all__ = ['GroupNetFCOSHead']
