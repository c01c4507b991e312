from .binary_unit import VALID_ORDER_OPS, add_shortcut, check_order, conv_shared, unit_post
from .fp_init import DEFAULT_BASE_NOISE, expand_to_bases, fp_state_dict, load_full_precision

__all__ = ['DEFAULT_BASE_NOISE', 'expand_to_bases', 'fp_state_dict', 'load_full_precision', 'VALID_ORDER_OPS',
           'check_order', 'add_shortcut', 'unit_post', 'conv_shared']
