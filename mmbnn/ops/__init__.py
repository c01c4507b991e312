"""Bit-packed 1-bit inference kernels (a torch C++ extension, ``mmbnn.ops._C``).

See :mod:`mmbnn.ops.bitpack` for the packing layout and the choice of instruction set, and
:mod:`mmbnn.ops.binary_conv` for the convolution and its epilogue.
"""
from .binary_conv import OUT_MODES, binary_conv2d, conv_output_size
from .bitpack import (ISAS, available_isas, kernel_isa, load_kernels, num_words,
                      pack_activations, pack_signs, pack_weights, unpack_activations,
                      unpack_weights)
from .sparse_conv import pack_masks, sparse_binary_conv2d

__all__ = ['ISAS', 'OUT_MODES', 'available_isas', 'binary_conv2d', 'conv_output_size',
           'kernel_isa', 'load_kernels', 'num_words', 'pack_activations', 'pack_signs',
           'pack_weights', 'unpack_activations', 'unpack_weights', 'pack_masks',
           'sparse_binary_conv2d']
