"""Binary decode heads for MMSegmentation (``type='mmbnn.X'`` in an mmseg config)."""
from .binary_aspp_head import BINARY_BRANCH_CONV, BinaryASPPHead

__all__ = ['BinaryASPPHead', 'BINARY_BRANCH_CONV']
