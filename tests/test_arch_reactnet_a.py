"""ReActNet-A (mmbnn.ReActNetA) as its official code builds it: the paper's BOPs / FLOPs / OPs, the
block against a transcription of the official one, the official weight binarizer (BiRealWeight)
against NumPy, conversion to the bit-packed kernels, and the two-step distillation configs."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from torch import nn

from arch_checks import (Classifier, converted_matches, load_config, randomise_bn,
                         train_iterations, train_step)
from mmbnn.analysis import summarize
from mmbnn.binarizers import BiRealWeight, XNORWeight
from mmbnn.layers import BinaryConv2d
from mmbnn.models.backbones import ReActNetA
from mmbnn.models.backbones.reactnet_a import REACTNET_CONV, ReActBlock

TINY = dict(stem_channels=8, blocks=((16, 1), (32, 2), (32, 1), (64, 2)))


def test_paper_complexity_table():
    """ReActNet-A in the paper (Table 2): 4.82e9 BOPs, 0.12e8 FLOPs, 0.87e8 OPs at 224 x 224,
    here the student of the ImageNet config (stem conv and FC real, every block conv binary)."""
    cfg = load_config('reactnet_a/reactnet-a_8xb32_in1k.py')
    init_default_scope('mmpretrain')
    model = ROOT_MODELS.build(cfg.model.student)
    s = summarize(model, (3, 224, 224))
    assert s.bops == pytest.approx(4.82e9, rel=0.02)
    assert s.flops == pytest.approx(0.12e8, rel=0.02)
    assert s.ops == pytest.approx(0.87e8, rel=0.02)
    # by hand: the 3x3/2 stem and the FC are the only real MACs
    assert s.flops == 32 * 112 * 112 * 3 * 9 + 1024 * 1000
    assert len([r for r in s.rows if r.binary]) == 26


def _rprelu(x, act):
    """The official move -> PReLU -> move, from the module's parameters."""
    x = x + act.shift_in.bias.view(1, -1, 1, 1)
    x = F.prelu(x, act.prelu.weight)
    return x + act.shift_out.bias.view(1, -1, 1, 1)


def _official_block(block: ReActBlock, x: torch.Tensor) -> torch.Tensor:
    """``mobilenet/2_step2/reactnet.py``'s BasicBlock.forward, with two 1x1 convs (the halves of
    our conv2) and two BNs (the halves of bn2) where the channels double."""

    def rsign(conv, v):  # move (x + b, b = -threshold) then sign, sign(0) = +1
        v = v - conv.act_binarizer.bias
        return torch.where(v >= 0, 1.0, -1.0)

    def weight(conv, w):
        return w.abs().mean((1, 2, 3), keepdim=True) * torch.where(w >= 0, 1.0, -1.0)

    def bn(v, m, sl=slice(None)):
        return F.batch_norm(v, m.running_mean[sl], m.running_var[sl], m.weight[sl],
                            m.bias[sl], False, 0.0, m.eps)

    c1, c2 = block.conv1, block.conv2
    out1 = F.conv2d(rsign(c1, x), weight(c1, c1.weight), stride=c1.stride, padding=1)
    out1 = bn(out1, block.bn1)
    if c1.stride[0] == 2:
        x = F.avg_pool2d(x, 2, 2)
    out1 = _rprelu(x + out1, block.act1)
    out2 = rsign(c2, out1)
    cin = c1.in_channels
    if c2.out_channels == cin:
        out2 = bn(F.conv2d(out2, weight(c2, c2.weight)), block.bn2) + out1
    else:
        halves = [bn(F.conv2d(out2, weight(c2, c2.weight[i * cin:(i + 1) * cin])), block.bn2,
                     slice(i * cin, (i + 1) * cin)) + out1 for i in range(2)]
        out2 = torch.cat(halves, 1)
    return _rprelu(out2, block.act2)


@pytest.mark.parametrize('cin, cout, stride', [(8, 8, 1), (8, 16, 1), (8, 16, 2)])
def test_block_equals_the_official_block(cin, cout, stride):
    torch.manual_seed(0)
    block = ReActBlock(cin, cout, stride, REACTNET_CONV, dict(type='BN')).eval()
    randomise_bn(block)
    with torch.no_grad():
        for m in block.modules():
            if type(m).__name__ in ('RSign', 'LearnableBias'):
                m.bias.uniform_(-0.3, 0.3)
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.1, 0.5)
    x = torch.randn(2, cin, 6, 6)
    torch.testing.assert_close(block(x), _official_block(block, x))


def test_bireal_weight_against_numpy():
    rng = np.random.default_rng(0)
    w = rng.uniform(-1.5, 1.5, (4, 3, 3, 3)).astype(np.float32)
    w[0, 0, 0, 0] = 0.0  # sign(0) = +1
    w[1, 0, 0, 0] = 1.0  # the clip window is closed: gradient 1 at |w| = 1
    g = rng.standard_normal(w.shape).astype(np.float32)
    t = torch.tensor(w, requires_grad=True)
    out = BiRealWeight()(t)
    alpha = np.abs(w).mean((1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out.detach().numpy(), alpha * np.where(w >= 0, 1, -1), rtol=1e-6)
    out.backward(torch.tensor(g))
    np.testing.assert_array_equal(t.grad.numpy(), g * (np.abs(w) <= 1))
    # the same values as XNOR-Net's binarizer, whose gradient differs (it goes through alpha)
    torch.testing.assert_close(out, XNORWeight()(t))
    signs, scale, offset = BiRealWeight().binary_parts(t.detach())
    assert offset is None and torch.equal(signs * scale, out.detach())
    with pytest.raises(ValueError, match='clip_value'):
        BiRealWeight(clip_value=0)


def test_stages_and_arguments():
    m = ReActNetA(out_indices=(0, 1, 2, 3, 4))
    outs = m(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(64, 32, 32), (128, 16, 16), (256, 8, 8),
                                                  (512, 4, 4), (1024, 2, 2)]
    assert [len(s) for s in m.stages] == [1, 2, 2, 6, 2]
    conv = m.stages[0][0].conv1
    assert isinstance(conv, BinaryConv2d) and conv.pad_value == 0.0
    assert type(conv.act_binarizer).__name__ == 'RSign'
    assert isinstance(conv.weight_binarizer, BiRealWeight)
    frozen = ReActNetA(arch=TINY, frozen_stages=1, norm_eval=True).train()
    assert not any(p.requires_grad for p in frozen.stem.parameters())
    assert not any(p.requires_grad for p in frozen.stages[0].parameters())
    assert all(p.requires_grad for p in frozen.stages[1].parameters())
    assert all(not bn.training for bn in frozen.modules() if isinstance(bn, nn.BatchNorm2d))


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(arch='B'), KeyError, 'invalid arch'),
    (dict(arch=dict(stem_channels=8)), KeyError, 'keys'),
    (dict(arch=dict(stem_channels=8, blocks=((24, 1), ))), ValueError, 'doubles'),
    (dict(arch=dict(stem_channels=8, blocks=((16, 3), ))), ValueError, 'stride'),
    (dict(arch=dict(stem_channels=8, blocks=(16, ))), ValueError, 'pairs'),
    (dict(out_indices=(5, )), IndexError, 'out_indices'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ReActNetA(**kwargs)


def test_converts_fully():
    torch.manual_seed(0)
    net = Classifier(ReActNetA(arch=TINY, stem_stride=1), num_classes=5)
    net.backbone.init_weights()
    randomise_bn(net)
    with torch.no_grad():
        for m in net.modules():
            if type(m).__name__ == 'RSign':
                m.bias.uniform_(-0.3, 0.3)
    converted = converted_matches(net, torch.randn(2, 3, 10, 10))
    assert not any(isinstance(m, BinaryConv2d) for m in converted.modules())


def test_two_step_distillation_configs():
    one = load_config('reactnet_a/reactnet-a_8xb32_in1k.py')
    step1 = load_config('reactnet_a/reactnet-a_step1_8xb32_in1k.py')
    step2 = load_config('reactnet_a/reactnet-a_step2_8xb32_in1k.py')
    for cfg in (one, step1, step2):
        assert cfg.model.type == 'mmbnn.SingleTeacherDistiller'
        assert cfg.model.with_student_loss is False  # the distribution loss alone
        assert cfg.model.distill_losses.loss_kd.type == 'mmbnn.DistributionLoss'
        assert cfg.model.teacher.config == 'mmpretrain::resnet/resnet34_8xb32_in1k.py'
        assert cfg.optim_wrapper.optimizer.type == 'Adam'
        assert cfg.optim_wrapper.optimizer.lr == 1.25e-3
        assert cfg.param_scheduler.type == 'LinearLR' and cfg.param_scheduler.end_factor == 0
        assert cfg.train_cfg.max_epochs == cfg.param_scheduler.end == 128
        assert cfg.auto_scale_lr.base_batch_size == 256
        assert any(t['type'] == 'Lighting' for t in cfg.train_dataloader.dataset.pipeline)
    conv = one.model.student.backbone.conv_cfg
    assert conv.weight_binarizer == dict(type='BiRealWeight')
    assert step1.model.student.backbone.conv_cfg.weight_binarizer is None  # real weights
    assert step1.optim_wrapper.optimizer.weight_decay == 1e-5
    assert one.optim_wrapper.optimizer.weight_decay == 0
    assert step2.optim_wrapper.optimizer.weight_decay == 0
    assert step2.model == one.model
    assert step2.load_from == 'work_dirs/reactnet-a_step1_8xb32_in1k/epoch_128.pth'
    # step 1's checkpoint loads into step 2's model key for key
    init_default_scope('mmpretrain')
    tiny = dict(arch=TINY)
    models = []
    for cfg in (step1, step2):
        student = cfg.model.student.copy()
        student.backbone.update(tiny)
        student.head.in_channels = 64
        models.append(ROOT_MODELS.build(student))
    result = models[1].load_state_dict(models[0].state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_digits_and_mnist_configs_train():
    cfg, model = train_step('digits/reactnet-a-w8_1xb64_digits.py')
    assert model.backbone.feat_dim == cfg.model.head.in_channels == 256
    assert len(model.backbone.stages) == 5
    train_iterations('mnist/reactnet-a-w8_1xb64_mnist5k.py')
