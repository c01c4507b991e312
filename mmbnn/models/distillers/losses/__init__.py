"""Distillation losses, registered in :data:`mmbnn.registry.MODELS`: each compares what a student
module and a teacher module returned (:class:`~mmbnn.models.distillers.SingleTeacherDistiller`
feeds them)."""
from .attention_transfer import AttentionTransferLoss, attention_map
from .dense_soft_target import DenseSoftTargetLoss, bernoulli_kl
from .distribution_loss import DistributionLoss
from .feature_mimic import FeatureMimicLoss, standardize

__all__ = ['DistributionLoss', 'AttentionTransferLoss', 'FeatureMimicLoss',
           'DenseSoftTargetLoss', 'attention_map', 'bernoulli_kl', 'standardize']
