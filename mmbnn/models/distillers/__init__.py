"""Distillation: training a (binary) student against a frozen (full-precision) teacher.

- :class:`SingleTeacherDistiller`: the wrapper model (``type='mmbnn.SingleTeacherDistiller'``)
  around any mmpretrain classifier, mmdet detector or mmseg segmentor config;
- :class:`OutputRecorder`: forward hooks that record what named modules return;
- the losses (:mod:`.losses`): ReActNet's :class:`DistributionLoss`, Real-to-Binary's
  :class:`AttentionTransferLoss`, and for dense prediction :class:`FeatureMimicLoss` (FPN
  features per level) and :class:`DenseSoftTargetLoss` (the teacher's class scores per level,
  positives weighted);
- :func:`fcos_positive_masks`: an FCOS-style head's positives per level.

Nothing here imports a toolbox: the classification path needs only mmengine (and mmpretrain for
the models themselves); the positives are read through the detector's own head.
"""
from .dense_targets import fcos_positive_masks
from .losses import (AttentionTransferLoss, DenseSoftTargetLoss, DistributionLoss,
                     FeatureMimicLoss, attention_map, bernoulli_kl, standardize)
from .recorder import OutputRecorder, parse_source
from .single_teacher import MASKS, SingleTeacherDistiller

__all__ = ['SingleTeacherDistiller', 'OutputRecorder', 'parse_source', 'fcos_positive_masks',
           'MASKS', 'DistributionLoss', 'AttentionTransferLoss', 'FeatureMimicLoss',
           'DenseSoftTargetLoss', 'attention_map', 'bernoulli_kl', 'standardize']
