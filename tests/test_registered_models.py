"""Every model registered in mmbnn's registry builds from a config dict, runs forward and
backward, and gives its documented output shapes (timm-style: one generic test over the
registry). Binarizers have their own table (tests/test_binarizers.py). A registered model with
no entry in MODEL_TABLE fails ``test_every_registered_model_has_an_entry``: adding a model means
adding its row here.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope

from mmbnn.binarizers import BaseBinarizer
from mmbnn.registry import MODELS


@dataclass
class Case:
    """How to build and run one registered model.

    cfg: its config (``type`` without the ``mmbnn.`` prefix); scope: the default scope it is
    built under (its toolbox); inputs: the positional arguments of forward; shapes: the
    documented shape of every tensor output, in order (nested outputs flattened).
    """
    cfg: dict
    inputs: Callable[[], Sequence]
    shapes: Sequence[tuple]
    scope: Optional[str] = None
    #: parameters that legitimately get no gradient from this forward
    no_grad: Sequence[str] = field(default_factory=tuple)
    #: positions of the inputs that are differentiable (default: every float tensor)
    grad_inputs: Optional[Sequence[int]] = None
    #: an eval-only model (real 1-bit inference): forward in eval mode, no backward
    inference_only: bool = False


def feats(channels, sizes, n=2):
    return [torch.randn(n, c, s, s) for c, s in zip(channels, sizes)]


MODEL_TABLE = {
    'BinaryConv2d': Case(
        dict(type='BinaryConv2d', in_channels=4, out_channels=6, kernel_size=3, padding=1,
             stride=2),
        lambda: [torch.randn(2, 4, 8, 8)], [(2, 6, 4, 4)]),
    'BinaryLinear': Case(
        dict(type='BinaryLinear', in_features=5, out_features=3),
        lambda: [torch.randn(4, 5)], [(4, 3)]),
    # a conv of in -> out channels made of K binary bases (reports its real in/out)
    'MultiBaseBinaryConv2d': Case(
        dict(type='MultiBaseBinaryConv2d', in_channels=4, out_channels=6, kernel_size=3,
             padding=1, num_bases=3),
        lambda: [torch.randn(2, 4, 8, 8)], [(2, 6, 8, 8)]),
    # K = 2 bases of 3 -> 5 channels, rates 1 and 2: (N, K C_in, H, W) -> (N, K C_out, H, W)
    'MultiDilationBinaryConv2d': Case(
        dict(type='MultiDilationBinaryConv2d', in_channels=6, out_channels=10, kernel_size=3,
             dilations=(1, 2)),
        lambda: [torch.randn(2, 6, 9, 9)], [(2, 10, 9, 9)]),
    'RPReLU': Case(dict(type='RPReLU', channels=4), lambda: [torch.randn(2, 4, 3, 3)],
                   [(2, 4, 3, 3)]),
    'LearnableBias': Case(dict(type='LearnableBias', channels=4),
                          lambda: [torch.randn(2, 4, 3, 3)], [(2, 4, 3, 3)]),
    # ImageNet stem (/4), stages /1 /2 /4 /8 at widths 8, 16, 32, 64
    'GroupNetResNet': Case(
        dict(type='GroupNetResNet', depth=18, num_bases=2, stem_channels=8, base_channels=8,
             out_indices=(0, 1, 2, 3)),
        lambda: [torch.randn(2, 3, 32, 32)], [(2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2),
                                              (2, 64, 1, 1)], scope='mmpretrain'),
    # XNOR-Net++: the binary conv's output times learned factorised scales
    'XNORPlusPlusConv2d': Case(
        dict(type='XNORPlusPlusConv2d', in_channels=4, out_channels=6, kernel_size=3, padding=1,
             scale_max_size=8),
        lambda: [torch.randn(2, 4, 8, 8)], [(2, 6, 8, 8)]),
    # CIFAR stem (/1), stages /1 /2 /4 /8 at widths 8, 16, 32, 64
    'RealToBinaryNet': Case(
        dict(type='RealToBinaryNet', stem='cifar', stem_channels=8, out_indices=(0, 1, 2, 3)),
        lambda: [torch.randn(2, 3, 16, 16)], [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4),
                                              (2, 64, 2, 2)]),
    # BinaryDenseNet28 at growth 8 (CIFAR stem): each stage after its transition
    'BinaryDenseNet': Case(
        dict(type='BinaryDenseNet', arch='28', growth_rate=8, stem_channels=8,
             channel_divisor=8, stem='cifar', out_indices=(0, 1, 2, 3)),
        lambda: [torch.randn(2, 3, 16, 16)], [(2, 16, 8, 8), (2, 24, 4, 4), (2, 32, 2, 2),
                                              (2, 72, 2, 2)]),
    # MeliusNet22 at growth 8, stem 16 (CIFAR stem), transitions 16 / 24 / 32
    'MeliusNet': Case(
        dict(type='MeliusNet', growth_rate=8, stem_channels=16, stem='cifar',
             arch=dict(num_blocks=(4, 5, 4, 4), transition_channels=(16, 24, 32, None)),
             out_indices=(0, 1, 2, 3)),
        lambda: [torch.randn(2, 3, 16, 16)], [(2, 16, 8, 8), (2, 24, 4, 4), (2, 32, 2, 2),
                                              (2, 64, 2, 2)]),
    # ReActNet-A's layout at width 1/4 (stem 8, stride 1): stages begin where channels change
    'ReActNetA': Case(
        dict(type='ReActNetA', arch=dict(stem_channels=8, blocks=((16, 1), (32, 2), (32, 1),
                                                                 (64, 2))),
             stem_stride=1, out_indices=(0, 1, 2)),
        lambda: [torch.randn(2, 3, 8, 8)], [(2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2)]),
    # QuickNet with 2 stages (8, 16 channels), stride-1 stem; the blur kernel is frozen
    'QuickNet': Case(
        dict(type='QuickNet', arch=dict(blocks=(1, 1), channels=(8, 16)), stem_strides=(1, 1),
             out_indices=(0, 1)),
        lambda: [torch.randn(2, 3, 8, 8)], [(2, 8, 8, 8), (2, 16, 4, 4)]),
    # BinaryResNetE18 at width 8 with larq's small-image stem: /1 /2 /4 /8
    'BinaryResNetE': Case(
        dict(type='BinaryResNetE', base_channels=8, stem='cifar', out_indices=(0, 1, 2, 3)),
        lambda: [torch.randn(2, 3, 16, 16)], [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4),
                                              (2, 64, 2, 2)]),
    # a small BinaryAlexNet with its binary classifier: the logits
    'BinaryAlexNet': Case(
        dict(type='BinaryAlexNet', arch=dict(convs=((8, 3, 1, False), (8, 3, 1, True),
                                                    (8, 3, 1, False), (8, 3, 1, False),
                                                    (8, 3, 1, True)), hidden=(16, )),
             num_classes=3, input_size=8),
        lambda: [torch.randn(2, 3, 8, 8)], [(2, 3)]),
    # three inputs (strides 8, 16, 32) -> 4 levels, the last an extra conv on the last output
    'BinaryFPN': Case(
        dict(type='BinaryFPN', in_channels=[8, 16, 32], out_channels=8, num_outs=4,
             num_bases=2, add_extra_convs='on_output'),
        lambda: [feats([8, 16, 32], [8, 4, 2])], [(2, 8, 8, 8), (2, 8, 4, 4), (2, 8, 2, 2),
                                                (2, 8, 1, 1)], scope='mmdet'),
    # per level: class scores, boxes (4), centerness (1)
    'GroupNetFCOSHead': Case(
        dict(type='GroupNetFCOSHead', num_classes=3, in_channels=8, feat_channels=8,
             stacked_convs=1, num_bases=2, strides=[8, 16],
             regress_ranges=((-1, 64), (64, 1e8))),
        lambda: [feats([8, 8], [8, 4])],
        [(2, 3, 8, 8), (2, 3, 4, 4), (2, 4, 8, 8), (2, 4, 4, 4), (2, 1, 8, 8), (2, 1, 4, 4)],
        scope='mmdet'),
    # the segmentation logits at the input feature's size
    'BinaryASPPHead': Case(
        dict(type='BinaryASPPHead', in_channels=16, channels=8, dilations=(1, 2), num_bases=2,
             num_classes=4, in_index=0, norm_cfg=dict(type='BN', requires_grad=True)),
        lambda: [feats([16], [6])], [(2, 4, 6, 6)], scope='mmseg'),
    # (penalty, lambda) for an active fraction above the budget
    'SparseBudgetLoss': Case(
        dict(type='SparseBudgetLoss', gamma=0.1),
        lambda: [torch.tensor(0.3), 0.1, torch.tensor(2.0)], [(), ()], grad_inputs=(0, )),
    # distillation losses: (student, teacher[, masks]) -> a scalar; the teacher gets no gradient
    'DistributionLoss': Case(
        dict(type='DistributionLoss', temperature=2.0),
        lambda: [torch.randn(4, 5), torch.randn(4, 5)], [()], grad_inputs=(0, )),
    'AttentionTransferLoss': Case(
        dict(type='AttentionTransferLoss'),
        lambda: [feats([4, 8], [6, 3]), feats([6, 2], [6, 3])], [()], grad_inputs=(0, )),
    'FeatureMimicLoss': Case(
        dict(type='FeatureMimicLoss', normalize=True),
        lambda: [feats([4, 4], [6, 3]), feats([4, 4], [6, 3]),
                 [torch.rand(2, 6, 6) < 0.5, torch.rand(2, 3, 3) < 0.5]], [()],
        grad_inputs=(0, )),
    'DenseSoftTargetLoss': Case(
        dict(type='DenseSoftTargetLoss'),
        lambda: [feats([3, 3], [6, 3]), feats([3, 3], [6, 3]),
                 [torch.rand(2, 6, 6) < 0.5, torch.rand(2, 3, 3) < 0.5]], [()],
        grad_inputs=(0, )),
    # the wrapper's forward outside 'loss' is the student's (the teacher is built for training
    # only, so its checkpoint is not read here): logits of 3 classes
    'SingleTeacherDistiller': Case(
        dict(type='SingleTeacherDistiller',
             student=dict(type='ImageClassifier',
                          backbone=dict(type='mmbnn.GroupNetResNet', depth=18, num_bases=1,
                                        stem='cifar', stem_channels=8, base_channels=8),
                          neck=dict(type='GlobalAveragePooling'),
                          head=dict(type='LinearClsHead', num_classes=3, in_channels=64)),
             teacher=dict(config='digits/resnet18-w16_1xb64_digits.py', checkpoint='unused.pth'),
             distill_losses=dict(loss_kd=dict(type='mmbnn.DistributionLoss', student='head.fc',
                                              teacher='head.fc'))),
        lambda: [torch.randn(2, 3, 8, 8)], [(2, 3)], scope='mmpretrain'),
    # a model converted to bit-packed 1-bit inference (eval only): logits of 3 classes
    'BitPackedModel': Case(
        dict(type='BitPackedModel', scope='mmpretrain', fuse_input_shape=(1, 3, 8, 8),
             model=dict(type='ImageClassifier',
                        backbone=dict(type='mmbnn.GroupNetResNet', depth=18, num_bases=2,
                                      stem='cifar', stem_channels=8, base_channels=8),
                        neck=dict(type='GlobalAveragePooling'),
                        head=dict(type='LinearClsHead', num_classes=3, in_channels=64))),
        lambda: [torch.randn(2, 3, 8, 8)], [(2, 3)], scope='mmpretrain', inference_only=True),
}


def registered_models():
    import mmbnn.layers  # noqa: F401  (registers them)
    import mmbnn.models  # noqa: F401
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if not (isinstance(cls, type) and issubclass(cls, BaseBinarizer)))


def test_every_registered_model_has_an_entry():
    registered = registered_models()
    missing = sorted(set(registered) - set(MODEL_TABLE))
    assert not missing, f'registered models without a MODEL_TABLE entry: {missing}'
    assert not set(MODEL_TABLE) - set(registered), 'an entry names an unregistered model'


def tensors(out):
    if isinstance(out, torch.Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        for o in out:
            yield from tensors(o)


def requires_grad(inputs):
    return [x.requires_grad_() if isinstance(x, torch.Tensor) and x.is_floating_point() else x
            for x in inputs]


@pytest.mark.parametrize('name', sorted(MODEL_TABLE))
def test_registered_model_builds_runs_and_has_documented_shapes(name):
    case = MODEL_TABLE[name]
    if case.scope is not None:
        pytest.importorskip({'mmseg': 'mmseg'}.get(case.scope, case.scope))
        init_default_scope(case.scope)
    torch.manual_seed(0)
    cfg = dict(case.cfg, type=f'mmbnn.{case.cfg["type"]}')
    model = ROOT_MODELS.build(cfg)
    assert type(model).__name__ == name
    if case.inference_only:
        model.eval()
        with torch.no_grad():
            outs = list(tensors(model(*case.inputs())))
        assert [tuple(o.shape) for o in outs] == [tuple(s) for s in case.shapes]
        assert all(torch.isfinite(o).all() for o in outs)
        return
    model.train()
    inputs = list(case.inputs())
    for i in (range(len(inputs)) if case.grad_inputs is None else case.grad_inputs):
        inputs[i] = requires_grad(inputs[i]) if isinstance(inputs[i], list) else \
            requires_grad([inputs[i]])[0]
    outs = list(tensors(model(*inputs)))
    assert [tuple(o.shape) for o in outs] == [tuple(s) for s in case.shapes]
    assert all(torch.isfinite(o).all() for o in outs)
    sum(o.float().sum() for o in outs if o.requires_grad).backward()
    leaves = [x for x in tensors(inputs) if x.requires_grad]
    assert leaves and all(x.grad is not None for x in leaves), 'no gradient reached the input'
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None and n not in case.no_grad]
    assert not missing, f'parameters without a gradient: {missing}'
