"""Deployment: packed 1-bit checkpoints, and conversion to bit-packed inference."""
from .packing import (PACKED_FORMAT, PACKED_VERSION, binary_layers, is_packed, load_packed,
                      pack_bits, pack_model, packed_sizes, unpack_bits, unpack_state_dict)
from .converters import (CONVERTERS, SIGN_THRESHOLDS, NotConvertible, NotFusable, binary_weight,
                         find_converter, register_converter, register_sign_binarizer,
                         sign_threshold)
from .inference_layers import (BitPackedConv2d, BitPackedLinear, BitPackedMultiBaseConv2d,
                               InferenceOnly, bn_affine)
from .fusion import FoldedInto, fuse_epilogues
from .convert import convert, example_forward, simulated_layers, unfused
from .fused_resnet import FusedBasicBlock, FusedBinaryResNet
from .bitpacked_model import BitPackedModel

__all__ = ['PACKED_FORMAT', 'PACKED_VERSION', 'binary_layers', 'is_packed', 'load_packed',
           'pack_bits', 'pack_model', 'packed_sizes', 'unpack_bits', 'unpack_state_dict',
           'convert', 'simulated_layers', 'unfused', 'example_forward', 'NotFusable',
           'FusedBinaryResNet', 'FusedBasicBlock', 'fuse_epilogues', 'FoldedInto',
           'CONVERTERS', 'SIGN_THRESHOLDS', 'NotConvertible', 'register_converter',
           'register_sign_binarizer', 'find_converter', 'sign_threshold', 'binary_weight',
           'BitPackedConv2d', 'BitPackedLinear', 'BitPackedMultiBaseConv2d', 'InferenceOnly',
           'bn_affine', 'BitPackedModel']
