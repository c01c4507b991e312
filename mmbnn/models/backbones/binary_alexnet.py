"""BinaryAlexNet (Hubara, Courbariaux, Soudry, El-Yaniv, Bengio, "Binarized Neural Networks",
NeurIPS 2016), as larq-zoo builds it (``larq_zoo/literature/binary_alex_net.py``)."""
from typing import Sequence, Union

from mmcv.cnn import build_conv_layer
from torch import nn

from mmbnn.layers import BinaryLinear
from mmbnn.registry import MODELS
from ..utils.keras_layers import build_keras_bn
from .binary_densenet import check_arch
from .staged_backbone import DEFAULT_INIT_CFG, StagedBackbone

__all__ = ['BinaryAlexNet', 'BNN_CONV']

#: BNN's binary conv as larq-zoo's BinaryAlexNet has it: ``ste_sign`` inputs and weights
#: (straight-through gradient clipped at 1), no scale, zero padding; latent weights clipped to
#: [-1, 1] (``weight_clip``; ``custom_hooks=[dict(type='mmbnn.LatentClampHook')]``).
BNN_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='STESign'),
                weight_binarizer=dict(type='SignWeight'))


def _out_size(size: int, kernel: int, stride: int, pool: bool) -> int:
    size = (size + 2 * (kernel // 2) - kernel) // stride + 1
    return (size - 3) // 2 + 1 if pool else size


@MODELS.register_module()
class BinaryAlexNet(StagedBackbone):
    """BinaryAlexNet: five binary conv blocks and a binary classifier, every BN without gamma
    (Keras' ``scale=False``).

    - Conv block: ``binconv(k, stride, padding k // 2) -> [max-pool 3x3/2] -> BN``. The first
      block (the stem) has real inputs and binary weights (larq: no input quantizer, sign
      kernel), so its MACs are real.
    - Classifier (``num_classes > 0``, the last stage): flatten, then ``BinaryLinear -> BN1d``
      for every hidden width and for the classes (larq's 1x1 ``QuantConv2D`` on the flattened
      features); its output is the logits, for mmpretrain's plain ``ClsHead``.
    - Widths of the blocks but the last and of the hidden layers are multiplied by
      ``inflation_ratio`` (larq's field; 1 in larq-zoo's model).

    At 224 x 224 with 1000 classes: larq-zoo's 61,859,192 parameters and 7.49 MB counting every
    BN variable (``convention='keras'`` of :func:`mmbnn.analysis.larq_counts`; 7.45 MB with
    ``'larq'``), 841 M MACs (``tests/test_arch_larq_literature.py``).

    Args:
        arch (str | dict): ``'imagenet'`` or a dict with ``convs`` (a sequence of ``(channels,
            kernel, stride, pool)``) and ``hidden`` (widths of the hidden dense layers).
            Default: ``'imagenet'``.
        num_classes (int): Classes of the binary classifier; <= 0: no classifier, the stages
            are the 5 conv blocks' features. Default: 1000.
        input_size (int): Input height and width, which fix the classifier's input. Default: 224.
        inflation_ratio (int): Width multiplier. Default: 1.
        in_channels (int): Image channels. Default: 3.
        conv_cfg (dict): The binary convs and (its binarizers) the binary dense layers.
            Default: :data:`BNN_CONV`.
        norm_cfg (dict): BN layers of the conv blocks; the classifier's are the same with
            ``type='BN1d'``. Default: ``dict(type='BN')`` (PyTorch's momentum 0.1 is larq's 0.9).
        out_indices (Sequence[int]): Stages to output: the conv blocks 2-5, then the classifier.
            Default: (-1, ).
        frozen_stages (int): Stages to freeze (-1: none, 0: the first conv block). Default: -1.
        norm_eval (bool): Keep BN layers in eval mode while training. Default: False.
        init_cfg (dict | list, optional): Default: Kaiming convs, BN weights 1.
    """
    arch_settings = {
        'imagenet': dict(convs=((64, 11, 4, True), (192, 5, 1, True), (384, 3, 1, False),
                                (384, 3, 1, False), (256, 3, 1, True)),
                         hidden=(4096, 4096)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'imagenet',
                 num_classes: int = 1000,
                 input_size: int = 224,
                 inflation_ratio: int = 1,
                 in_channels: int = 3,
                 conv_cfg: dict = BNN_CONV,
                 norm_cfg: dict = dict(type='BN'),
                 out_indices: Sequence[int] = (-1, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=DEFAULT_INIT_CFG):
        arch = check_arch(type(self).__name__, arch, self.arch_settings, ('convs', 'hidden'))
        convs = arch['convs']
        if len(convs) < 2 or any(not isinstance(c, (tuple, list)) or len(c) != 4 for c in convs):
            raise ValueError(f'arch convs must be at least two (channels, kernel, stride, pool) '
                             f'tuples, got {convs!r}')
        convs = [tuple(c) for c in convs]
        if isinstance(inflation_ratio, bool) or not isinstance(inflation_ratio, int) or \
                inflation_ratio < 1:
            raise ValueError(f'inflation_ratio must be an int >= 1, got {inflation_ratio!r}')
        super().__init__(len(convs) - 1 + (num_classes > 0), out_indices, frozen_stages,
                         norm_eval, init_cfg)
        self.arch, self.num_classes = arch, num_classes

        blocks, in_ch, size = [], in_channels, input_size
        for i, (ch, kernel, stride, pool) in enumerate(convs):
            out_ch = ch * (1 if i == len(convs) - 1 else inflation_ratio)
            cfg = conv_cfg if i else dict(conv_cfg, act_binarizer=None)  # real image input
            layers = [build_conv_layer(cfg, in_ch, out_ch, kernel, stride=stride,
                                       padding=kernel // 2, bias=False)]
            if pool:
                layers.append(nn.MaxPool2d(3, stride=2))
            layers.append(build_keras_bn(norm_cfg, out_ch, scale=False))
            blocks.append(nn.Sequential(*layers))
            in_ch, size = out_ch, _out_size(size, kernel, stride, pool)
        if size < 1:
            raise ValueError(f'input_size={input_size} is too small for this arch (the '
                             f'features would be {size} pixels wide)')
        self.stem = blocks[0]
        self.stages = nn.ModuleList(blocks[1:])
        self.feat_dim = in_ch
        if num_classes > 0:
            linear_cfg = {k: conv_cfg[k] for k in ('act_binarizer', 'weight_binarizer')
                          if k in conv_cfg}
            bn1d = dict(norm_cfg, type='BN1d')
            layers, features = [nn.Flatten()], in_ch * size * size
            for width in [h * inflation_ratio for h in arch['hidden']] + [num_classes]:
                layers += [BinaryLinear(features, width, bias=False, **linear_cfg),
                           build_keras_bn(bn1d, width, scale=False)]
                features = width
            self.stages.append(nn.Sequential(*layers))
            self.feat_dim = num_classes
