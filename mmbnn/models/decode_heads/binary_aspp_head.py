"""Group-Net's binary DeepLabV3 head: ASPP branches of K binary bases, a real projection and
classifier (Zhuang et al., "Structured Binary Neural Networks...", CVPR 2019)."""
import inspect
from typing import Sequence

from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.aspp_head import ASPPHead, ASPPModule
from torch import nn

from mmbnn.layers import GROUPNET_CONV
from mmbnn.registry import MODELS

__all__ = ['BinaryASPPHead', 'BINARY_BRANCH_CONV']

#: The branches' conv: a layer-wise K-base binary conv (``sum_k lambda_k BinConv_k(x)``) with
#: Group-Net's conv (:data:`~mmbnn.layers.GROUPNET_CONV`: ApproxSign activations, XNOR weights,
#: +1 padding); ``num_bases`` comes from the head.
BINARY_BRANCH_CONV = dict(GROUPNET_CONV, type='mmbnn.MultiBaseBinaryConv2d')


@MODELS.register_module()
class BinaryASPPHead(ASPPHead):
    """DeepLabV3's ASPP head with binary branches (Group-Net's segmentation head).

    As :class:`mmseg.models.decode_heads.ASPPHead` (same forward, same module names): the image
    pooling branch (global average pool, 1x1 conv) and one branch per rate in ``dilations`` (a
    1x1 conv for rate 1, a 3x3 conv of that dilation otherwise), each conv + BN + ReLU, are
    concatenated, projected by ``bottleneck`` (3x3 conv + BN + ReLU) and classified by
    ``conv_seg`` (1x1). Here every branch conv is binary with K bases,
    ``conv(x) ~ sum_k lambda_k BinConv_k(x)`` (:class:`~mmbnn.layers.MultiBaseBinaryConv2d`:
    one grouped binary conv over the input repeated K times), while the projection
    (``bottleneck``) and the classifier (``conv_seg``) stay full precision, as the paper keeps
    them.

    In an mmseg config: ``decode_head=dict(type='mmbnn.BinaryASPPHead', in_channels=512,
    channels=256, num_bases=5, num_classes=21, ...)``; no ``custom_imports`` needed.

    Args:
        dilations (Sequence[int]): Rates of the ASPP branches; 1 is the 1x1 branch.
            Default: ``(1, 12, 24, 36)``, DeepLabV3's rates at output stride 8 (the paper's).
        num_bases (int): K, the binary bases of each branch conv (passed to ``branch_conv_cfg``
            when its layer takes ``num_bases``). Default: 5.
        branch_conv_cfg (dict): Conv of the ASPP branches. Default: :data:`BINARY_BRANCH_CONV`.
        binary_image_pool (bool): Make the image pooling branch's 1x1 conv binary too (it acts on
            a 1x1 map: a negligible cost either way). Default: True.
        **kwargs: :class:`mmseg.models.decode_heads.BaseDecodeHead`'s arguments (``in_channels``,
            ``channels``, ``num_classes``, ``norm_cfg``, ``loss_decode``...). Its ``conv_cfg``
            (default None, a real conv) applies to ``bottleneck`` only.
    """

    def __init__(self, dilations: Sequence[int] = (1, 12, 24, 36), num_bases: int = 5,
                 branch_conv_cfg: dict = BINARY_BRANCH_CONV, binary_image_pool: bool = True,
                 **kwargs):
        if not isinstance(num_bases, int) or isinstance(num_bases, bool) or num_bases < 1:
            raise ValueError(f'num_bases (K) must be an int >= 1, got {num_bases!r}')
        if not isinstance(dilations, (list, tuple)) or not dilations or not all(
                isinstance(d, int) and d >= 1 for d in dilations):
            raise ValueError(f'dilations must be a non-empty list of ints >= 1, got {dilations!r}')
        # ASPPHead builds every conv with conv_cfg (real by default); the branches are then
        # rebuilt binary below, so bottleneck keeps the real conv and conv_seg is always real.
        super().__init__(dilations=tuple(dilations), **kwargs)
        self.num_bases = num_bases
        self.branch_conv_cfg = self._with_num_bases(branch_conv_cfg, num_bases)
        self.binary_image_pool = binary_image_pool
        self.aspp_modules = ASPPModule(self.dilations, self.in_channels, self.channels,
                                       conv_cfg=self.branch_conv_cfg, norm_cfg=self.norm_cfg,
                                       act_cfg=self.act_cfg)
        if binary_image_pool:
            self.image_pool = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                ConvModule(self.in_channels, self.channels, 1, conv_cfg=self.branch_conv_cfg,
                           norm_cfg=self.norm_cfg, act_cfg=self.act_cfg))

    @staticmethod
    def _with_num_bases(cfg: dict, num_bases: int) -> dict:
        cfg = dict(cfg)
        conv_type = cfg.get('type')
        cls = MODELS.get(conv_type) if isinstance(conv_type, str) else conv_type
        if cls is None or 'num_bases' not in inspect.signature(cls).parameters:
            if num_bases != 1:
                raise ValueError(f'branch_conv_cfg type {conv_type!r} has no num_bases, but '
                                 f'num_bases={num_bases}: use mmbnn.MultiBaseBinaryConv2d or '
                                 f'num_bases=1')
            return cfg
        if cfg.get('num_bases', num_bases) != num_bases:
            raise ValueError(f'branch_conv_cfg sets num_bases={cfg["num_bases"]} but the head '
                             f'has num_bases={num_bases}')
        cfg['num_bases'] = num_bases
        return cfg
