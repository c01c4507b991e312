from .activation import (ApproxSign, DoReFaActivation, EDEScheduleMixin, EDESign, FPProxy,
                         IdentitySTESign, RSign, STESign, SwishSign)
from .bireal_weight import BiRealWeight
from .base_shift import BaseShiftProxy, BaseShiftSign, default_base_shifts
from .base import (FULL_PRECISION_BITS, ActivationBinarizer, BaseBinarizer, WeightBinarizer,
                   build_binarizer)
from .fda import FDASign, FDAWeight
from .packed import PackedBinaryWeight
from .recu import ReCUSign, ReCUWeight
from .sparse import PrunedSignWeight, SparseBinaryWeight, SparseWeightBinarizer
from .weight import (DoReFaWeight, IRNetWeight, LayerScaleWeight, LearnedScaleWeight, SignWeight,
                     XNORWeight)

__all__ = ['BaseBinarizer', 'ActivationBinarizer', 'WeightBinarizer', 'build_binarizer',
           'FULL_PRECISION_BITS', 'EDEScheduleMixin',
           'STESign', 'IdentitySTESign', 'ApproxSign', 'SwishSign', 'EDESign', 'RSign',
           'BaseShiftSign', 'BaseShiftProxy', 'default_base_shifts',
           'DoReFaActivation', 'FPProxy',
           'SignWeight', 'XNORWeight', 'LayerScaleWeight', 'IRNetWeight', 'LearnedScaleWeight',
           'DoReFaWeight', 'PackedBinaryWeight', 'SparseBinaryWeight', 'PrunedSignWeight',
           'SparseWeightBinarizer', 'ReCUWeight', 'ReCUSign', 'FDASign', 'FDAWeight',
           'BiRealWeight']
