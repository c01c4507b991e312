"""The conv config shared by mmbnn's binary detection necks and heads (private helper)."""
from typing import Optional

from torch import nn

__all__ = ['binary_conv_cfg', 'is_sign_binarized']

DEFAULT_NUM_BASES = 5


def binary_conv_cfg(num_bases: Optional[int], conv_cfg: Optional[dict]) -> dict:
    """The conv config of a Group-Net neck or head.

    ``conv_cfg=None``: K-base binary convs (layer-wise decomposition,
    :class:`~mmbnn.layers.MultiBaseBinaryConv2d`) with Bi-Real's ApproxSign activations and XNOR
    weights, ``K = num_bases`` (5 when None, as the paper). A given ``conv_cfg`` is used as it is;
    ``num_bases`` must then be None or equal to its ``num_bases``.
    """
    if conv_cfg is None:
        k = DEFAULT_NUM_BASES if num_bases is None else num_bases
        if not isinstance(k, int) or k < 1:
            raise ValueError(f'num_bases must be an int >= 1, got {num_bases!r}')
        return dict(type='mmbnn.MultiBaseBinaryConv2d', num_bases=k,
                    act_binarizer=dict(type='ApproxSign'),
                    weight_binarizer=dict(type='XNORWeight'))
    conv_cfg = dict(conv_cfg)
    if num_bases is not None and conv_cfg.get('num_bases') != num_bases:
        raise ValueError(f'num_bases={num_bases} disagrees with conv_cfg={conv_cfg}: set K in '
                         f'one place (num_bases with conv_cfg=None, or conv_cfg.num_bases)')
    return conv_cfg


def is_sign_binarized(conv: nn.Module) -> bool:
    """Whether ``conv`` binarizes its input (an mmbnn binary conv with an activation binarizer)."""
    return getattr(conv, 'act_binarizer', None) is not None
