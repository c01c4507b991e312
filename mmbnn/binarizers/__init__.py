from .activation import STESign
from .base import (ActivationBinarizer, BaseBinarizer, WeightBinarizer, build_binarizer)
from .weight import XNORWeight

__all__ = ['BaseBinarizer', 'ActivationBinarizer', 'WeightBinarizer', 'build_binarizer',
           'STESign', 'XNORWeight']
