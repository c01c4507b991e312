"""Bop (mmbnn.engine.Bop) against a NumPy transcription of its rule, and the optimizer wrapper
constructor that trains binary weights with Bop beside Adam for the real parameters."""
import copy

import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.optim.scheduler import LinearLR
from torch import nn

from mmbnn.engine import Bop, CaseOptimizer, binary_weights
from mmbnn.layers import BinaryConv2d


def numpy_bop(w, grads, gamma, tau):
    """Helwegen et al.'s rule as larq writes it, in float32: m += gamma (g - m);
    w = sign(-sign(w m - tau) w), sign(0) = +1 for the outer sign."""
    w = w.astype(np.float32)
    m = np.zeros_like(w)
    for g in grads:
        m = (m + np.float32(gamma) * (g - m)).astype(np.float32)
        inner = np.sign(w * m - np.float32(tau))
        w = np.where(-inner * w >= 0, 1.0, -1.0).astype(np.float32)
    return w, m


@pytest.mark.parametrize('gamma, tau', [(1e-4, 1e-8), (0.1, 0.05), (1.0, 0.0)])
def test_update_rule_against_numpy(gamma, tau):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((64, 9)).astype(np.float32)  # float init: the first step signs it
    grads = [rng.standard_normal(w0.shape).astype(np.float32) for _ in range(6)]
    p = nn.Parameter(torch.from_numpy(w0.copy()))
    opt = Bop([p], gamma=gamma, threshold=tau)
    for g in grads:
        p.grad = torch.from_numpy(g)
        opt.step()
    w_ref, m_ref = numpy_bop(w0, grads, gamma, tau)
    np.testing.assert_allclose(opt.state[p]['m'].numpy(), m_ref, rtol=1e-5, atol=1e-6 * gamma)
    np.testing.assert_array_equal(p.detach().numpy(), w_ref)
    assert set(np.unique(w_ref)) <= {-1.0, 1.0}


def test_flips_only_on_a_consistent_strong_signal():
    # w, gradient: flip iff the averaged gradient passes tau AND has w's sign
    w = torch.tensor([1., 1., -1., -1., 1., -1.])
    g = torch.tensor([0.5, -0.5, -0.5, 0.5, 0.05, -0.05])
    p = nn.Parameter(w.clone())
    opt = Bop([p], gamma=1.0, threshold=0.1)  # gamma 1: m is this step's gradient
    p.grad = g
    opt.step()
    assert p.tolist() == [-1., 1., 1., -1., 1., -1.]
    assert opt.state[p]['m'].tolist() == g.tolist()


def test_zero_weight_and_tie_give_plus_one():
    p = nn.Parameter(torch.tensor([0.0, 1.0]))
    opt = Bop([p], gamma=1.0, threshold=0.5)
    p.grad = torch.tensor([3.0, 0.5])  # w m - tau = -0.5 -> keep 0 -> +1; tie 0 -> +1 (larq)
    opt.step()
    assert p.tolist() == [1.0, 1.0]


@pytest.mark.parametrize('kwargs', [dict(gamma=0), dict(gamma=1.5), dict(threshold=-1),
                                    dict(gamma=True)])
def test_bad_hyperparameters(kwargs):
    with pytest.raises(ValueError, match='Bop: invalid'):
        Bop([nn.Parameter(torch.ones(2))], **kwargs)


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.bconv = BinaryConv2d(4, 6, 3, padding=1, bias=False,
                                  weight_binarizer=dict(type='SignWeight', clip_value=None))
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(self.bconv(self.bn(self.conv(x))).mean((2, 3)))


CFG = dict(constructor='mmbnn.BinaryOptimWrapperConstructor',
           optimizer=dict(type='Adam', lr=1e-2),
           binary_optimizer=dict(type='mmbnn.Bop', gamma=1e-2, threshold=1e-6))


def test_constructor_splits_and_steps_like_adam_plus_bop():
    torch.manual_seed(0)
    net = _Net()
    ref = copy.deepcopy(net)
    wrapper = build_optim_wrapper(net, copy.deepcopy(CFG))
    opt = wrapper.optimizer
    assert isinstance(opt, CaseOptimizer)
    bop, adam = opt.optimizers
    assert isinstance(bop, Bop) and isinstance(adam, torch.optim.Adam)
    assert [p for g in bop.param_groups for p in g['params']] == [net.bconv.weight]
    assert binary_weights(net) == [net.bconv.weight]
    real = {id(p) for g in adam.param_groups for p in g['params']}
    assert real == {id(p) for n, p in net.named_parameters() if n != 'bconv.weight'}

    ref_adam = torch.optim.Adam([p for n, p in ref.named_parameters() if n != 'bconv.weight'],
                                lr=1e-2)
    ref_bop = Bop([ref.bconv.weight], gamma=1e-2, threshold=1e-6)
    x = torch.randn(4, 3, 6, 6)
    for _ in range(3):
        wrapper.update_params(net(x).square().mean())
        ref_adam.zero_grad()
        ref_bop.zero_grad()
        ref(x).square().mean().backward()
        ref_adam.step()
        ref_bop.step()
    for (n, p), q in zip(net.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, msg=n)
    assert set(net.bconv.weight.unique().tolist()) <= {-1.0, 1.0}

    # one state dict for both; it loads into a fresh wrapper
    state = wrapper.state_dict()
    other = build_optim_wrapper(_Net(), copy.deepcopy(CFG))
    other.load_state_dict(state)
    assert len(other.optimizer.optimizers[1].state) == len(real)
    with pytest.raises(ValueError, match='optimizer states'):
        other.optimizer.load_state_dict(dict(optimizers=[]))


def test_lr_scheduler_scales_gamma_and_lr():
    wrapper = build_optim_wrapper(_Net(), copy.deepcopy(CFG))
    sched = LinearLR(wrapper.optimizer, start_factor=0.5, end_factor=0.5, end=1,
                     by_epoch=False)
    lrs = [g['lr'] for g in wrapper.optimizer.param_groups]
    assert lrs == [0.5 * 1e-2] + [0.5 * 1e-2] * (len(lrs) - 1)  # Bop's gamma, Adam's lr
    assert sched.get_last_value()[0] == 0.5 * 1e-2


def test_paramwise_cfg_applies_to_the_real_parameters():
    cfg = dict(copy.deepcopy(CFG), paramwise_cfg=dict(norm_decay_mult=0.0))
    cfg['optimizer']['weight_decay'] = 1e-3
    net = _Net()
    bop, adam = build_optim_wrapper(net, cfg).optimizer.optimizers
    decay = {id(g['params'][0]): g['weight_decay'] for g in adam.param_groups}
    assert decay[id(net.bn.weight)] == 0.0 and decay[id(net.conv.weight)] == 1e-3
    assert id(net.bconv.weight) not in decay


def test_constructor_errors():
    cfg = copy.deepcopy(CFG)
    del cfg['binary_optimizer']
    with pytest.raises(KeyError, match='binary_optimizer'):
        build_optim_wrapper(_Net(), cfg)
    with pytest.raises(ValueError, match='no trainable binary'):
        build_optim_wrapper(nn.Linear(2, 2), copy.deepcopy(CFG))
    with pytest.raises(ValueError, match='more than one optimizer'):
        p = nn.Parameter(torch.ones(2))
        CaseOptimizer([Bop([p]), torch.optim.Adam([p])])


def test_digits_config_trains_with_bop():
    """configs/bop/bop_quicknet-w16_1xb64_digits.py: a few iterations move the real parameters
    (Adam) and keep every binary weight at +-1 (Bop)."""
    from arch_checks import train_iterations
    cfg, model = train_iterations('bop/bop_quicknet-w16_1xb64_digits.py')
    assert cfg.optim_wrapper.binary_optimizer.type == 'mmbnn.Bop'
    weights = binary_weights(model)
    assert len(weights) == 16
    assert all(set(w.unique().tolist()) <= {-1.0, 1.0} for w in weights)
