"""Bit-packed 1-bit inference kernels: a compiled extension (``mmbnn.ops._C``: a torch-free C++
core with a thin torch binding) and a pure-PyTorch implementation of every function, which runs
where the extension could not be built and gives the same results.

See :mod:`mmbnn.ops.bitpack` for the packing layout and the choice of implementation, and
:mod:`mmbnn.ops.binary_conv` for the convolution and its fused epilogue.
"""
from .binary_conv import OUT_MODES, Activation, binary_conv2d, conv_output_size
from .bitpack import (ISAS, available_isas, compiled, kernel_isa, load_kernels, num_words,
                      pack_activations, pack_signs, pack_weights, prepare_weights,
                      unpack_activations, unpack_weights)
from .sparse_conv import pack_masks, sparse_binary_conv2d

__all__ = ['ISAS', 'OUT_MODES', 'Activation', 'available_isas', 'binary_conv2d', 'compiled',
           'conv_output_size', 'kernel_isa', 'load_kernels', 'num_words', 'pack_activations',
           'pack_signs', 'pack_weights', 'prepare_weights', 'unpack_activations',
           'unpack_weights', 'pack_masks', 'sparse_binary_conv2d']
