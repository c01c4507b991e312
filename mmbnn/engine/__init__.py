from .class_num_check_hook import ClassNumCheckHook
from .ede_hook import EDEHook
from .sparsity_hook import SparsityHook

__all__ = ['EDEHook', 'SparsityHook', 'ClassNumCheckHook']
