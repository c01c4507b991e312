from .fp_init import expand_to_bases, fp_state_dict, load_full_precision

__all__ = ['expand_to_bases', 'fp_state_dict', 'load_full_precision']
