from .ede_hook import EDEHook

__all__ = ['EDEHook']
