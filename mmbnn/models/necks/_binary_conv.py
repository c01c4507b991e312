"""The conv config shared by mmbnn's binary detection necks and heads (private helper)."""
import inspect
from typing import Optional

from torch import nn

from mmbnn.layers import groupnet_conv_cfg
from mmbnn.registry import MODELS

__all__ = ['binary_conv_cfg', 'is_sign_binarized', 'DEFAULT_NUM_BASES']

DEFAULT_NUM_BASES = 5


def binary_conv_cfg(num_bases: Optional[int], conv_cfg: Optional[dict]) -> dict:
    """The conv config of a Group-Net neck or head.

    ``conv_cfg=None``: Group-Net's conv (:data:`~mmbnn.layers.GROUPNET_CONV`: ApproxSign
    activations, XNOR weights, +1 padding) as a layer-wise K-base conv
    (:class:`~mmbnn.layers.MultiBaseBinaryConv2d`), ``K = num_bases`` (5 when None, as the paper).
    A given ``conv_cfg`` is used as it is, except that a conv type taking ``num_bases`` (a K-base
    conv) that leaves it unset gets ``num_bases`` (5 when None): so a config sets K in one place
    and changes the binarizers in ``conv_cfg`` (the stage-1 proxy, per-base thresholds). A
    ``num_bases`` given in both places must agree.
    """
    if conv_cfg is None:
        return groupnet_conv_cfg(num_bases=_check_k(num_bases))
    conv_cfg = dict(conv_cfg)
    if 'num_bases' not in conv_cfg and _takes_num_bases(conv_cfg):
        conv_cfg['num_bases'] = _check_k(num_bases)
    elif num_bases is not None and conv_cfg.get('num_bases') != num_bases:
        raise ValueError(f'num_bases={num_bases} disagrees with conv_cfg={conv_cfg}: set K in '
                         f'one place (num_bases with conv_cfg=None, or conv_cfg.num_bases)')
    return conv_cfg


def _check_k(num_bases: Optional[int]) -> int:
    k = DEFAULT_NUM_BASES if num_bases is None else num_bases
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f'num_bases must be an int >= 1, got {num_bases!r}')
    return k


def _takes_num_bases(conv_cfg: dict) -> bool:
    conv_type = conv_cfg.get('type')
    cls = MODELS.get(conv_type) if isinstance(conv_type, str) else conv_type
    return cls is not None and 'num_bases' in inspect.signature(cls).parameters


def is_sign_binarized(conv: nn.Module) -> bool:
    """Whether ``conv`` binarizes its input (an mmbnn binary conv with an activation binarizer)."""
    return getattr(conv, 'act_binarizer', None) is not None
