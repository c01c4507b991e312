"""Binary FPN: mmdet's FPN whose lateral and output convs are K-base binary convs with BN."""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.necks import FPN

from mmbnn.registry import MODELS
from ._binary_conv import binary_conv_cfg, is_sign_binarized

__all__ = ['BinaryFPN']


@MODELS.register_module()
class BinaryFPN(FPN):
    """mmdet's :class:`~mmdet.models.necks.FPN` with binary lateral and output convs.

    Every lateral (1x1) and output (3x3) conv, and the extra convs that make P6/P7, is a
    ``ConvModule(conv -> BN)`` of its own pyramid level (mmdet's FPN builds one per level), whose
    conv is by default a K-base binary conv: ``conv(x) ~ sum_k lambda_k BinConv_k(x)``
    (:class:`~mmbnn.layers.MultiBaseBinaryConv2d`, ApproxSign activations, XNOR weights). This is
    the binary FPN of the 1-bit FCOS of Group-Net's authors (IJCV 2022), which binarizes the FPN
    convs of P3-P7.

    With ``shortcut=True`` (Bi-Real style) every binary conv adds a real-valued, parameter-free
    shortcut of its input, so that the pyramid does not see the backbone only through sign():
    each output conv ``P_l = BN_l(BinConv(L_l)) + L_l``; each stride-2 extra conv its input
    average-pooled 2x2, ``P6 = BN(BinConv_s2(P5)) + avgpool(P5)``; each lateral conv its input
    with the channels matched, ``L_l = BN_l(BinConv_1x1(C_l)) + match(C_l)``, where ``match``
    averages groups of ``C_in / C_out`` consecutive channels when the conv reduces them and
    repeats the channels ``C_out / C_in`` times when it widens them (ReActNet's duplication).
    The lateral shortcut needs one of the two channel counts to divide the other.

    ``relu_before_extra_convs`` is refused with binary extra convs: ReLU makes every input of
    the P7 conv >= 0, sign() then maps all of it to +1, and P7 would no longer depend on the
    image. Everything else (``start_level``, ``add_extra_convs``, upsampling) is mmdet's.

    Args:
        in_channels (list[int]): Input channels per scale.
        out_channels (int): Output channels (each scale).
        num_outs (int): Number of output scales.
        num_bases (int, optional): K, bases per binary conv, when ``conv_cfg`` is None
            (default 5). Default: None.
        shortcut (bool): Real-valued shortcut around every lateral, output and extra conv.
            Default: True.
        conv_cfg (dict, optional): Conv config; None gives the K-base binary conv above; e.g.
            ``dict(type='Conv2d')`` gives a full-precision FPN with BN. Default: None.
        norm_cfg (dict): Norm after every conv (one per level). Default: BN.
        relu_before_extra_convs (bool): As mmdet's FPN; must be False with binary extra convs.
            Default: False.
        **kwargs: The other arguments of mmdet's FPN (``start_level``, ``end_level``,
            ``add_extra_convs``, ``no_norm_on_lateral``, ``act_cfg``, ``upsample_cfg``,
            ``init_cfg``).
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 num_outs: int,
                 num_bases: Optional[int] = None,
                 shortcut: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='BN', requires_grad=True),
                 relu_before_extra_convs: bool = False,
                 **kwargs) -> None:
        conv_cfg = binary_conv_cfg(num_bases, conv_cfg)
        super().__init__(in_channels, out_channels, num_outs, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, relu_before_extra_convs=relu_before_extra_convs,
                         **kwargs)
        self.shortcut = shortcut
        self.num_bases = conv_cfg.get('num_bases', 1)
        num_extra = len(self.fpn_convs) - len(self.lateral_convs)
        if relu_before_extra_convs and num_extra > 1 and any(
                is_sign_binarized(m.conv) for m in self.fpn_convs[-num_extra + 1:]):
            raise ValueError('relu_before_extra_convs=True with binary extra convs: ReLU makes '
                             'their input >= 0, sign() maps it all to +1 and P7 would not '
                             'depend on the image; set relu_before_extra_convs=False')
        if shortcut:
            for i in range(self.start_level, self.backbone_end_level):
                c = self.in_channels[i]
                if c % out_channels and out_channels % c:
                    raise ValueError(f'shortcut=True needs in_channels[{i}]={c} and '
                                     f'out_channels={out_channels} to divide one another (the '
                                     'lateral shortcut averages or repeats channels); use '
                                     'shortcut=False')
        if shortcut and self.add_extra_convs == 'on_input' and num_extra:
            # P6 from the backbone's last map: the shortcut needs the same channel count.
            if self.in_channels[self.backbone_end_level - 1] != out_channels:
                raise ValueError("shortcut=True with add_extra_convs='on_input' needs the last "
                                 f'input to have out_channels={out_channels} channels, got '
                                 f'{self.in_channels[self.backbone_end_level - 1]}; use '
                                 "add_extra_convs='on_output' or shortcut=False")

    def _lateral(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Lateral conv ``i``, with its channel-matched shortcut."""
        out = self.lateral_convs[i](x)
        if not self.shortcut:
            return out
        c_in, c_out = x.shape[1], out.shape[1]
        if c_in > c_out:  # average groups of consecutive channels
            x = x.view(x.shape[0], c_out, c_in // c_out, *x.shape[2:]).mean(2)
        elif c_in < c_out:  # repeat the channels
            x = x.repeat(1, c_out // c_in, 1, 1)
        return out + x

    def _out_conv(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Output or extra conv ``i`` of the pyramid, with its shortcut."""
        out = self.fpn_convs[i](x)
        if not self.shortcut:
            return out
        if out.shape[-2:] != x.shape[-2:]:  # a stride-2 extra conv
            x = F.avg_pool2d(x, 2, stride=2, ceil_mode=True, count_include_pad=False)
        return out + x

    def forward(self, inputs: Tuple[torch.Tensor]) -> tuple:
        """mmdet's FPN forward, the convs going through :meth:`_lateral` and :meth:`_out_conv`
        (which add the shortcuts)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects {len(self.in_channels)} feature '
                             f'maps (in_channels={self.in_channels}), got {len(inputs)}')
        laterals = [self._lateral(i, inputs[i + self.start_level])
                    for i in range(len(self.lateral_convs))]
        for i in range(len(laterals) - 1, 0, -1):  # top-down path
            if 'scale_factor' in self.upsample_cfg:
                up = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                up = F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                   **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        used = len(laterals)
        outs = [self._out_conv(i, laterals[i]) for i in range(used)]
        if self.num_outs > used:
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                source: Union[torch.Tensor, None] = {
                    'on_input': inputs[self.backbone_end_level - 1],
                    'on_lateral': laterals[-1],
                    'on_output': outs[-1]}[self.add_extra_convs]
                outs.append(self._out_conv(used, source))
                for i in range(used + 1, self.num_outs):
                    x = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self._out_conv(i, x))
        return tuple(outs)
