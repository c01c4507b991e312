"""Group-Net FCOS head: binary K-base towers shared across levels, a BN per level."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import Scale, build_activation_layer, build_conv_layer, build_norm_layer
from mmdet.models.dense_heads import FCOSHead
from mmdet.models.utils import multi_apply
from torch import nn

from mmbnn.registry import MODELS
from ..necks._binary_conv import binary_conv_cfg
from ..utils.binary_unit import check_order, unit_post

__all__ = ['GroupNetFCOSHead']


@MODELS.register_module()
class GroupNetFCOSHead(FCOSHead):
    """mmdet's :class:`~mmdet.models.dense_heads.FCOSHead` with binary Group-Net towers.

    The classification and regression towers are ``stacked_convs`` K-base binary 3x3 convs
    (``conv(x) ~ sum_k lambda_k BinConv_k(x)``, :class:`~mmbnn.layers.MultiBaseBinaryConv2d`,
    ApproxSign activations, XNOR weights by default) whose weights are SHARED by all pyramid
    levels, as FCOS shares its towers; each level has its OWN BN after each conv, since binary
    features of different scales have different statistics (the 1-bit FCOS of Group-Net's
    authors, IJCV 2022). One tower unit, at level l::

        y = BinConv_i(x) -> [act] -> BN_{i,l} -> [+ x]      (order ('act', 'norm', 'add'))

    the steps after the conv in the order of ``order``, as Group-Net's backbone blocks
    (``('norm', 'add')`` is Bi-Real's unit). The ``+ x`` is a real-valued (Bi-Real) shortcut,
    on when ``shortcut=True`` and the unit keeps the channel count. The final ``conv_cls``,
    ``conv_reg`` and ``conv_centerness`` are full-precision ``nn.Conv2d``. Scales, strides,
    ``norm_on_bbox``, ``centerness_on_reg``, the targets, losses and post-processing are
    FCOSHead's.

    Args:
        num_classes (int): Object classes (no background).
        in_channels (int): Channels of the input feature maps.
        num_bases (int, optional): K, when ``conv_cfg`` is None (default 5). Default: None.
        shortcut (bool): Real-valued shortcut around each tower conv. Default: True.
        order (Sequence[str]): Steps after each tower conv, from ``('act', 'norm', 'add')``;
            must hold ``'norm'``. Default: ``('act', 'norm', 'add')``.
        act_cfg (dict, optional): Activation of the towers (one per conv, shared by the
            levels); None with an order without ``'act'``. Default: ``dict(type='ReLU')``.
        conv_cfg (dict, optional): Tower conv config; None gives the K-base binary conv above.
            Default: None.
        norm_cfg (dict): Norm config; one norm per tower conv and level. Default: BN.
        **kwargs: The other arguments of FCOSHead and AnchorFreeHead (``feat_channels``,
            ``stacked_convs``, ``strides``, ``regress_ranges``, ``center_sampling``,
            ``norm_on_bbox``, ``centerness_on_reg``, losses, ``conv_bias``, ``train_cfg``,
            ``test_cfg``, ``init_cfg``). ``dcn_on_last_conv`` and ``cls_predictor_cfg`` are
            refused.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_bases: Optional[int] = None,
                 shortcut: bool = True,
                 order: Sequence[str] = ('act', 'norm', 'add'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 **kwargs) -> None:
        if kwargs.get('dcn_on_last_conv'):
            raise ValueError('dcn_on_last_conv is not supported by GroupNetFCOSHead: its tower '
                             'convs are binary')
        if kwargs.get('cls_predictor_cfg') is not None:
            raise ValueError('cls_predictor_cfg is not supported by GroupNetFCOSHead: conv_cls '
                             'is a full-precision nn.Conv2d')
        order = check_order(order, act_cfg)
        if norm_cfg is None:
            raise ValueError('GroupNetFCOSHead needs a norm_cfg: binary tower convs are '
                             'followed by a norm per level')
        self.shortcut = shortcut
        self.order = order
        self.act_cfg = act_cfg
        conv_cfg = binary_conv_cfg(num_bases, conv_cfg)
        self.num_bases = conv_cfg.get('num_bases', 1)
        super().__init__(num_classes, in_channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         **kwargs)

    # -- layers ---------------------------------------------------------------------------
    def _make_tower(self) -> Tuple[nn.ModuleList, nn.ModuleList, nn.ModuleList]:
        """``stacked_convs`` shared convs, their activations, and norms[i][level]."""
        bias = self.conv_bias if self.conv_bias != 'auto' else False  # a norm follows
        convs, acts, norms = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i in range(self.stacked_convs):
            chn = self.in_channels if i == 0 else self.feat_channels
            convs.append(build_conv_layer(self.conv_cfg, chn, self.feat_channels, 3, stride=1,
                                          padding=1, bias=bias))
            acts.append(nn.Identity() if self.act_cfg is None else
                        build_activation_layer(self.act_cfg))
            norms.append(nn.ModuleList(
                build_norm_layer(self.norm_cfg, self.feat_channels)[1] for _ in self.strides))
        return convs, acts, norms

    def _init_cls_convs(self) -> None:
        self.cls_convs, self.cls_acts, self.cls_norms = self._make_tower()

    def _init_reg_convs(self) -> None:
        self.reg_convs, self.reg_acts, self.reg_norms = self._make_tower()

    # -- forward --------------------------------------------------------------------------
    def _tower(self, x: torch.Tensor, convs: nn.ModuleList, acts: nn.ModuleList,
               norms: nn.ModuleList, level: int) -> torch.Tensor:
        for conv, act, level_norms in zip(convs, acts, norms):
            out = conv(x)
            shortcut = x if self.shortcut and out.shape == x.shape else None
            x = unit_post(out, self.order, act, level_norms[level], shortcut)
        return x

    def forward(self, x: Tuple[torch.Tensor]
                ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[torch.Tensor]]:
        """Per level: (cls_score, bbox_pred, centerness), as FCOSHead."""
        if len(x) != len(self.strides):
            raise ValueError(f'{type(self).__name__} has {len(self.strides)} levels '
                             f'(strides={self.strides}) but got {len(x)} feature maps')
        return multi_apply(self.forward_single, x, self.scales, self.strides,
                           list(range(len(x))))

    def forward_single(self, x: torch.Tensor, scale: Scale, stride: int,
                       level: int = 0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One level: the shared towers with this level's norms, then FCOSHead's outputs (the
        same scale / ``norm_on_bbox`` / ``centerness_on_reg`` logic as
        :meth:`FCOSHead.forward_single`)."""
        cls_feat = self._tower(x, self.cls_convs, self.cls_acts, self.cls_norms, level)
        reg_feat = self._tower(x, self.reg_convs, self.reg_acts, self.reg_norms, level)
        cls_score = self.conv_cls(cls_feat)
        bbox_pred = self.conv_reg(reg_feat)
        centerness = self.conv_centerness(reg_feat if self.centerness_on_reg else cls_feat)
        bbox_pred = scale(bbox_pred).float()
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred *= stride
        else:
            bbox_pred = bbox_pred.exp()
        return cls_score, bbox_pred, centerness
