"""Real-to-Binary Net (mmbnn.RealToBinaryNet) as larq-zoo builds it: larq-zoo's parameters, size
and MACs from the summary tool, the block structure and its gates against NumPy, the multi-stage
attention-transfer recipe on the distiller, conversion to the bit-packed kernels, the configs."""
import json

import numpy as np
import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from torch import nn

from arch_checks import (Classifier, build_config_model, converted_matches, load_config,
                         randomise_bn, runner_iterations, train_step)
from conftest import ROOT
from mmbnn.layers import BinaryConv2d, FactorisedScale
from mmbnn.models.backbones import RealToBinaryNet
from mmbnn.models.backbones.real_to_binary import (R2B_BAN_CONV, R2B_FP_CONV,
                                                   DataDependentScale, RealToBinaryHalfBlock)
from mmbnn.models.distillers.losses import AttentionTransferLoss

STAGES = ['kd-at_r2b-fp_8xb32_in1k.py', 'kd-at_r2b-ban_8xb32_in1k.py', 'kd_r2b_8xb32_in1k.py']


def test_counts_match_larq_zoo_from_the_summary_tool(tmp_path):
    """tools/analysis/summary.py on the ImageNet config: larq-zoo's 11,995,624 parameters
    (BN's four vectors counted), 5.13 MB (1-bit weights as bits, BN's two folded vectors),
    1.81 G MACs of which 92.4 % binary."""
    import runpy
    tool = runpy.run_path(f'{ROOT}/tools/analysis/summary.py')
    out = tmp_path / 'summary.json'
    tool['main']([f'{ROOT}/configs/real_to_binary/r2b_8xb32_in1k.py', '--larq', 'larq',
                  '--json', str(out)])
    with open(out) as f:
        larq = json.load(f)['larq']
    # Keras counts the BN moving mean and variance beside the two folded vectors: 2 per channel
    bn_channels = sum(m.num_features for m in RealToBinaryNet().modules()
                      if isinstance(m, nn.BatchNorm2d))
    assert larq['bn_values'] == 2 * bn_channels
    keras_params = larq['params'] + 2 * bn_channels
    assert keras_params == pytest.approx(11_995_624, rel=0.005)
    assert keras_params == 11_995_624  # in fact exact
    assert larq['size_mb'] == pytest.approx(5.13, rel=0.02)
    assert round(larq['size_mb'], 2) == 5.13
    assert larq['macs'] == pytest.approx(1.81e9, rel=0.02)
    assert round(100 * larq['binary_mac_share'], 1) == 92.4
    # the 16 binary 3x3 convs, counted by hand (the first of stages 2-4 widens C / 2 -> C)
    assert larq['params_by_bits']['1'] == 9 * (4 * 64 * 64 + sum(
        c // 2 * c + 3 * c * c for c in (128, 256, 512)))


def test_stem_activation_switch_and_scaling_variants():
    """The code's stem ends with PReLU (64 parameters more than the commented ReLU); the strong
    baseline's factorised scales are sized to each stage's output at input_size."""
    prelu, relu = RealToBinaryNet(), RealToBinaryNet(stem_act_cfg=dict(type='ReLU'))
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(prelu) - n(relu) == 64 and isinstance(prelu.stem[2], nn.PReLU)
    base = RealToBinaryNet(scaling='learned', input_size=224)
    sizes = [b[h].scale.max_size for s in base.stages for b in s for h in (0, 1)]
    assert sizes == [56] * 4 + [28] * 4 + [14] * 4 + [7] * 4
    assert all(isinstance(b[0].scale, FactorisedScale) for s in base.stages for b in s)
    plain = RealToBinaryNet(scaling=None)
    assert not hasattr(plain.stages[0][0][0], 'scale')


def test_half_block_against_numpy():
    """``PReLU(conv(BN(x)) * sigmoid(W2 relu(W1 mean(BN(x))))) + avgpool-conv-BN(x)``."""
    torch.manual_seed(0)
    blk = RealToBinaryHalfBlock(8, 16, 2, conv_cfg=dict(type='mmbnn.BinaryConv2d'),
                                norm_cfg=dict(type='BN'), act_cfg=dict(type='PReLU', init=0.1),
                                scaling='data', scaling_ratio=4, scale_size=1).eval()
    randomise_bn(blk)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        y = blk(x).numpy()
        bn = blk.norm(x)
        conv = blk.conv(bn).numpy()
        shortcut = blk.shortcut(x).numpy()
    z = bn.mean((2, 3)).numpy()
    h = np.maximum(z @ blk.scale.reduce.weight.detach().numpy().T, 0)
    gate = 1 / (1 + np.exp(-(h @ blk.scale.expand.weight.detach().numpy().T)))
    pre = conv * gate[:, :, None, None]
    slope = blk.act.weight.detach().numpy()[None, :, None, None]
    np.testing.assert_allclose(y, np.where(pre >= 0, pre, slope * pre) + shortcut, rtol=1e-5,
                               atol=1e-6)
    assert blk.scale.reduce.weight.shape == (2, 8) and blk.scale.expand.weight.shape == (16, 2)


def test_structure_outputs_freezing_and_norm_eval():
    m = RealToBinaryNet(stem='cifar', stem_channels=8, out_indices=(0, 1, 2, 3), frozen_stages=1,
                        norm_eval=True)
    outs = m(torch.randn(2, 3, 16, 16))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4),
                                              (2, 64, 2, 2)]
    convs = [c for c in m.modules() if isinstance(c, BinaryConv2d)]
    assert len(convs) == 16 and all(c.pad_value == 0 for c in convs)
    assert type(convs[0].act_binarizer).__name__ == 'STESign'
    assert type(convs[0].weight_binarizer).__name__ == 'SignWeight'
    assert convs[0].weight_binarizer.clamp == 1.0
    m.train()
    assert not any(p.requires_grad for p in m.stem.parameters())
    assert not any(p.requires_grad for p in m.stages[0].parameters())
    assert all(p.requires_grad for p in m.stages[1].parameters())
    assert not any(b.training for b in m.modules() if isinstance(b, nn.BatchNorm2d))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(depth=34), KeyError, 'depth'),
    (dict(scaling='se'), ValueError, 'scaling'),
    (dict(stem='deep'), ValueError, 'stem'),
    (dict(scaling='learned'), ValueError, 'input_size'),
    (dict(input_size=224), ValueError, 'input_size'),
    (dict(scaling_ratio=0), ValueError, 'scaling_ratio'),
    (dict(stem_channels=0), ValueError, 'stem_channels'),
    (dict(out_indices=(4, )), IndexError, 'out_indices'),
    (dict(frozen_stages=5), ValueError, 'frozen_stages'),
    (dict(norm_eval='yes'), ValueError, 'norm_eval'),
    (dict(nope=1), TypeError, 'nope'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        RealToBinaryNet(**kwargs)


def test_data_dependent_scale_refuses_a_ratio_above_the_channels():
    with pytest.raises(ValueError, match='scaling_ratio'):
        DataDependentScale(4, 8, ratio=8)


# --------------------------------------------------------------------------------- the recipe
def np_larq_attention(students, teachers):
    """larq-zoo's AttentionMatchingLossLayer (without its weight), in NumPy, NCHW."""
    def q(a):
        v = (a ** 2).mean(1).reshape(a.shape[0], -1)
        return v / v.max(1, keepdims=True)
    return np.mean([((q(s) - q(t)) ** 2).mean(1) for s, t in zip(students, teachers)])


def test_larq_attention_transfer_against_numpy():
    gen = torch.Generator().manual_seed(0)
    s = [torch.randn(2, c, h, h, generator=gen, dtype=torch.float64) for c, h in ((4, 6), (8, 3))]
    t = [torch.randn(2, c, h, h, generator=gen, dtype=torch.float64) for c, h in ((6, 6), (2, 3))]
    for x in s:
        x.requires_grad_()
    loss = AttentionTransferLoss(form='larq', loss_weight=30.0)(s, t)
    expected = 30 * np_larq_attention([x.detach().numpy() for x in s], [x.numpy() for x in t])
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    # gradient: the NumPy function's central differences at one student entry
    loss.backward()
    eps, idx = 1e-6, (1, 2, 3, 4)
    sn = [x.detach().numpy().copy() for x in s]
    sn[0][idx] += eps
    up = np_larq_attention(sn, [x.numpy() for x in t])
    sn[0][idx] -= 2 * eps
    down = np_larq_attention(sn, [x.numpy() for x in t])
    assert s[0].grad[idx].item() == pytest.approx(30 * (up - down) / (2 * eps), rel=1e-5)
    with pytest.raises(ValueError, match='p must be 2'):
        AttentionTransferLoss(form='larq', p=1.0)
    with pytest.raises(ValueError, match='form'):
        AttentionTransferLoss(form='keras')


def test_recipe_configs_chain():
    """Stage n's student is stage n-1's teacher architecture and checkpoint; the stages differ in
    their binarizers and losses as larq-zoo's TrainR2B does."""
    cfgs = [load_config(f'real_to_binary/{name}') for name in STAGES]
    convs = [c.model.student.backbone.get('conv_cfg') for c in cfgs]
    assert convs[0]['act_binarizer'] == R2B_FP_CONV['act_binarizer']
    assert convs[0]['weight_binarizer'] is None
    assert convs[1]['act_binarizer'] == R2B_BAN_CONV['act_binarizer']
    assert convs[1]['weight_binarizer'] is None
    assert convs[2] is None  # the backbone's default: R2B_BNN_CONV
    teachers = ['real_to_binary/r2b-resnet18_8xb64_in1k.py', 'real_to_binary/r2b-fp_8xb32_in1k.py',
                'real_to_binary/r2b-ban_8xb32_in1k.py']
    producers = ['r2b-resnet18_8xb64_in1k', 'kd-at_r2b-fp_8xb32_in1k', 'kd-at_r2b-ban_8xb32_in1k']
    for cfg, teacher, producer in zip(cfgs, teachers, producers):
        epochs = load_config(teacher).train_cfg.max_epochs
        assert cfg.model.teacher.config == teacher
        assert cfg.model.teacher.checkpoint == f'work_dirs/{producer}/epoch_{epochs}.pth'
    assert cfgs[2].load_from == cfgs[2].model.teacher.checkpoint  # stage 3 starts from stage 2
    # each stage's student and schedule are those of the plain config of its network
    for cfg, plain in zip(cfgs, ['r2b-fp_8xb32_in1k.py', 'r2b-ban_8xb32_in1k.py',
                                 'r2b_8xb32_in1k.py']):
        plain = load_config(f'real_to_binary/{plain}')
        assert cfg.model.student == plain.model
        assert (cfg.optim_wrapper, cfg.param_scheduler) == (plain.optim_wrapper,
                                                            plain.param_scheduler)
    weights = [{k: v.loss_weight for k, v in c.model.distill_losses.items()} for c in cfgs]
    assert weights == [dict(loss_kd=3.0, loss_at=30.0)] * 2 + [dict(loss_kd=0.8)]
    assert [c.optim_wrapper.optimizer.lr for c in cfgs] == [1e-3, 1e-3, 2e-4]
    assert [c.train_cfg.max_epochs for c in cfgs] == [75, 75, 75]
    assert cfgs[2].custom_hooks == [dict(type='mmbnn.LatentClampHook')]
    assert cfgs[0].custom_hooks == [] and cfgs[1].custom_hooks == []


@pytest.mark.parametrize('stage', range(3))
def test_recipe_stage_trains_a_step_against_its_teacher(stage, tmp_path):
    """Each stage's distiller at ImageNet size but on a small batch of small images: its teacher
    builds from its config and a checkpoint of it, every transfer point exists in both, and the
    losses are finite with a gradient into the student."""
    from mmpretrain.structures import DataSample
    cfg = load_config(f'real_to_binary/{STAGES[stage]}')
    init_default_scope('mmpretrain')
    teacher_cfg = load_config(cfg.model.teacher.config)
    teacher = ROOT_MODELS.build(teacher_cfg.model)
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    cfg.model.teacher.checkpoint = str(ckpt)
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)  # as the Runner does
    model = ROOT_MODELS.build(cfg.model)
    model.train()
    samples = [DataSample().set_gt_label(i) for i in range(2)]
    losses = model(torch.randn(2, 3, 64, 64), samples, mode='loss')
    assert set(losses) >= set(cfg.model.distill_losses) | {'loss'}
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total) and all(v > 0 for k, v in losses.items() if 'loss_' in k)
    total.backward()
    assert model.student.backbone.stages[0][0][0].conv.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------- small configs, kernels
@pytest.mark.parametrize('name', ['digits/r2b-w16_1xb64_digits.py',
                                  'mnist/r2b-w16_1xb64_mnist5k.py'])
def test_small_configs_train_a_step(name):
    _, model = train_step(name)
    assert isinstance(model.backbone, RealToBinaryNet) and model.backbone.feat_dim == 128


def test_mnist_config_runs_a_few_iterations(tmp_path):
    runner_iterations('mnist/r2b-w16_1xb64_mnist5k.py', tmp_path, subset=64)


@pytest.mark.parametrize('scaling', ['data', 'learned', None])
def test_converts_to_the_kernels(scaling):
    """Every binary conv runs on the kernels (the scales stay in torch, after them); logits equal
    the float simulation's."""
    torch.manual_seed(0)
    net = Classifier(RealToBinaryNet(stem='cifar', stem_channels=16, scaling=scaling,
                                     input_size=12 if scaling == 'learned' else None),
                     num_classes=10)
    if scaling == 'learned':
        with torch.no_grad():
            for p in net.parameters():
                if p.dim() == 3:  # the factorised scales, away from 1
                    p.uniform_(0.5, 1.5)
    randomise_bn(net)
    converted_matches(net, torch.randn(2, 3, 12, 12))


def test_digits_config_converts():
    torch.manual_seed(0)
    _, model = build_config_model('digits/r2b-w16_1xb64_digits.py')
    randomise_bn(model)
    converted_matches(model, torch.randn(2, 3, 8, 8))
