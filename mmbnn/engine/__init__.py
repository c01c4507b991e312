from .class_num_check_hook import ClassNumCheckHook
from .ede_hook import EDEHook
from .latent_clamp_hook import LatentClampHook
from .sparsity_hook import SparsityHook

__all__ = ['EDEHook', 'LatentClampHook', 'SparsityHook', 'ClassNumCheckHook']
