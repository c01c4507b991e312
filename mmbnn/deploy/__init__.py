"""Deployment: packed 1-bit checkpoints."""
from .packing import (PACKED_FORMAT, PACKED_VERSION, binary_layers, is_packed, load_packed,
                      pack_bits, pack_model, packed_sizes, unpack_bits, unpack_state_dict)

__all__ = ['PACKED_FORMAT', 'PACKED_VERSION', 'binary_layers', 'is_packed', 'load_packed',
           'pack_bits', 'pack_model', 'packed_sizes', 'unpack_bits', 'unpack_state_dict']
