from .checkpoint_hooks import AtomicCheckpointHook, CheckpointFitHook
from .binary_optim import BinaryOptimWrapperConstructor, CaseOptimizer, binary_weights
from .bop import Bop
from .class_num_check_hook import ClassNumCheckHook
from .ede_hook import EDEHook
from .latent_clamp_hook import LatentClampHook
from .sparsity_hook import SparsityHook

__all__ = ['EDEHook', 'LatentClampHook', 'SparsityHook', 'ClassNumCheckHook',
           'AtomicCheckpointHook', 'CheckpointFitHook',
           'Bop', 'CaseOptimizer', 'BinaryOptimWrapperConstructor', 'binary_weights']
