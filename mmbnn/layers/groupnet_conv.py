"""Group-Net's binary conv, defined once for the backbone, the binary FPN, the FCOS head and the
binary ASPP head."""
import copy
import inspect
from typing import Optional, Sequence, Union

from mmbnn.registry import MODELS

__all__ = ['GROUPNET_CONV', 'groupnet_conv_cfg', 'with_num_bases', 'single_base', 'WEIGHT_SCALES']

#: Group-Net's binary conv (Zhuang et al., CVPR 2019, and its official code): activations
#: binarized by sign with Bi-Real's ApproxSign gradient, weights by sign times a mean |w| scale,
#: and the border padded with +1 (``pad_value=1.0``), so that a padded binary input stays in
#: {-1, +1}: with zero padding the border taps would be {-1, 0, +1}, not binary, and a BOPs count
#: of 1-bit MACs would be slightly optimistic. The scale here is per output channel (XNOR-Net's);
#: the official code uses one mean |w| per layer (``weight_scale='layer'`` of
#: :func:`groupnet_conv_cfg`). In Group-Net's unit (conv -> ReLU -> BN) a positive per-channel
#: scale cancels in the forward pass (ReLU and BN are invariant to it); the two differ in the
#: gradient of the scale and wherever bases are summed before a BN (the layer-wise K-base convs of
#: the FPN and the heads).
GROUPNET_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                     weight_binarizer=dict(type='XNORWeight'), pad_value=1.0)

#: ``weight_scale`` -> weight binarizer config.
WEIGHT_SCALES = {'channel': dict(type='XNORWeight'), 'layer': dict(type='LayerScaleWeight')}


def groupnet_conv_cfg(num_bases: Optional[int] = None, weight_scale: str = 'channel',
                      base_shifts: Union[None, bool, Sequence[float]] = None,
                      multi_base: bool = False) -> dict:
    """A copy of :data:`GROUPNET_CONV`, with options. Configs build their binary convs with it
    (``from mmbnn.layers import groupnet_conv_cfg`` after ``_base_``), so that Group-Net's conv
    is defined once.

    Args:
        num_bases (int, optional): None: one binary conv (``mmbnn.BinaryConv2d``; the backbone
            holds its K bases as the conv's groups). K: the layer-wise K-base conv
            ``sum_k lambda_k BinConv_k(x)`` (``mmbnn.MultiBaseBinaryConv2d``), as the binary FPN,
            the FCOS head and the ASPP head use. Default: None.
        weight_scale (str): ``'channel'`` (one mean |w| per output channel, XNOR-Net) or
            ``'layer'`` (one per layer and base, Group-Net's official code). Default: 'channel'.
        base_shifts (None | bool | Sequence[float]): Per-base activation thresholds
            (:class:`~mmbnn.binarizers.BaseShiftSign`): None/False, every base binarizes at 0;
            True, K thresholds spread over [-0.5, 0.5]; or the K thresholds. Default: None.
        multi_base (bool): The layer-wise K-base conv (``mmbnn.MultiBaseBinaryConv2d``) without
            ``num_bases`` in the config: the module that builds it (the binary FPN, the FCOS
            head, the ASPP head) passes its own ``num_bases``, so one config serves every K.
            Implied by ``num_bases``. Default: False.
    """
    if weight_scale not in WEIGHT_SCALES:
        raise ValueError(f'weight_scale must be one of {sorted(WEIGHT_SCALES)}, got '
                         f'{weight_scale!r}')
    cfg = copy.deepcopy(GROUPNET_CONV)
    cfg['weight_binarizer'] = dict(WEIGHT_SCALES[weight_scale])
    if base_shifts is not None and base_shifts is not False:
        cfg['act_binarizer'] = dict(type='BaseShiftSign')
        if base_shifts is not True:
            cfg['act_binarizer']['shifts'] = tuple(base_shifts)
    if num_bases is not None or multi_base:
        cfg['type'] = 'mmbnn.MultiBaseBinaryConv2d'
    if num_bases is not None:
        cfg['num_bases'] = num_bases
    return cfg


def _takes(cfg: Optional[dict], arg: str) -> bool:
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return False
    cls = cfg['type']
    if isinstance(cls, str):
        cls = MODELS.get(cls) if cls in MODELS else None
    return cls is not None and arg in inspect.signature(cls).parameters


def with_num_bases(conv_cfg: dict, num_bases: int) -> dict:
    """``conv_cfg`` with ``num_bases`` passed to the binarizers that take it (per-base scales of
    :class:`~mmbnn.binarizers.LayerScaleWeight`, per-base thresholds of
    :class:`~mmbnn.binarizers.BaseShiftSign`), for a conv that holds K bases base-major along
    its channels. A binarizer config that sets another ``num_bases`` is refused."""
    cfg = copy.deepcopy(conv_cfg)
    for key in ('act_binarizer', 'weight_binarizer'):
        sub = cfg.get(key)
        if _takes(sub, 'num_bases'):
            if sub.get('num_bases', num_bases) != num_bases:
                raise ValueError(f'conv_cfg.{key} sets num_bases={sub["num_bases"]} but the '
                                 f'layer has K = {num_bases} bases; leave it unset')
            sub['num_bases'] = num_bases
    return cfg


def single_base(conv_cfg: dict) -> dict:
    """``conv_cfg`` for a conv that holds ONE base although the model has K: the shared
    downsample of a Group-Net block (:class:`~mmbnn.models.backbones.GroupNetResNet`,
    ``shared_downsample=True``), one conv over the group's input whose output goes to every
    base. Binarizers that take ``num_bases`` get 1; per-base ``shifts`` are dropped (one
    threshold, starting at 0: :func:`~mmbnn.binarizers.default_base_shifts` of 1 base)."""
    cfg = copy.deepcopy(conv_cfg)
    for key in ('act_binarizer', 'weight_binarizer'):
        sub = cfg.get(key)
        if _takes(sub, 'num_bases'):
            sub['num_bases'] = 1
            sub.pop('shifts', None)
    return cfg
