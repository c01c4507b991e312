"""LatentClampHook: BNN's latent weights are clipped back to [-1, 1] after every update, so none
leaves the clipped STE's window and freezes there (issue 15, defect 4)."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from mmbnn.engine import LatentClampHook
from mmbnn.engine.latent_clamp_hook import clamp_latent_weights, clamped_layers
from mmbnn.layers import BinaryConv2d, BinaryLinear
from mmbnn.registry import HOOKS


def test_clamps_exactly_the_layers_whose_binarizer_bounds_them():
    net = nn.Sequential(
        BinaryConv2d(2, 3, 3, weight_binarizer=dict(type='SignWeight')),
        BinaryConv2d(2, 3, 3, weight_binarizer=dict(type='SignWeight', clip_value=0.5)),
        BinaryConv2d(2, 3, 3, weight_binarizer=dict(type='SignWeight', clip_value=None)),
        BinaryConv2d(2, 3, 3, weight_binarizer=dict(type='XNORWeight')))
    torch.manual_seed(0)
    for m in net:
        nn.init.uniform_(m.weight, -3, 3)
    before = [m.weight.detach().clone() for m in net]
    assert clamped_layers(net) == [net[0], net[1]]
    assert clamp_latent_weights(net) == 2
    assert torch.equal(net[0].weight, before[0].clamp(-1, 1))
    assert torch.equal(net[1].weight, before[1].clamp(-0.5, 0.5))
    assert torch.equal(net[2].weight, before[2]) and torch.equal(net[3].weight, before[3])
    assert net[0].weight_binarizer.clamp == 1.0 and net[3].weight_binarizer.clamp is None


def test_refuses_a_model_it_cannot_act_on():
    hook = HOOKS.build(dict(type='LatentClampHook'))
    assert isinstance(hook, LatentClampHook)
    xnor = nn.Sequential(BinaryLinear(4, 2, weight_binarizer=dict(type='XNORWeight')))
    with pytest.raises(ValueError, match='no binary layer whose weight binarizer bounds'):
        hook.before_train(SimpleNamespace(model=xnor))
    with pytest.raises(TypeError):
        HOOKS.build(dict(type='LatentClampHook', clip_value=1.0))  # no arguments


class _BNNToy(BaseModel):
    """One BNN linear layer (SignWeight, STE sign); the loss pushes every weight one way."""

    def __init__(self):
        super().__init__()
        self.fc = BinaryLinear(8, 4, bias=False, act_binarizer=dict(type='STESign'),
                               weight_binarizer=dict(type='SignWeight'))
        with torch.no_grad():
            self.fc.weight.uniform_(-0.9, 0.9)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(inputs)
        return dict(loss=-out.sum()) if mode == 'loss' else out


def train(tmp_path, hooks):
    model = _BNNToy()
    seen = []

    class Record(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            seen.append(model.fc.weight.detach().abs().max().item())

    runner = Runner(
        model=model, work_dir=str(tmp_path),
        train_dataloader=dict(dataset=[dict(inputs=torch.ones(8))] * 8, batch_size=2,
                              num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.3)),
        train_cfg=dict(by_epoch=False, max_iters=6, val_interval=100),
        custom_hooks=hooks, default_hooks=dict(logger=None, checkpoint=None),
        log_level='WARNING')
    runner.register_hook(Record())
    runner.train()
    return model, seen


def frozen(model):
    """The weights that get no gradient (|w| > 1 under SignWeight's clipped STE)."""
    model.zero_grad()
    model(torch.ones(2, 8), mode='loss')['loss'].backward()
    return (model.fc.weight.grad == 0) & (model.fc.weight.abs() > 1)


def test_without_the_hook_bnn_weights_leave_the_window_and_freeze(tmp_path):
    model, seen = train(tmp_path, [])
    assert seen[-1] > 1  # the defect: nothing brings them back
    assert frozen(model).any()


def test_with_the_hook_they_stay_in_it_after_every_step(tmp_path):
    model, seen = train(tmp_path, [dict(type='mmbnn.LatentClampHook')])
    assert len(seen) == 6 and max(seen) <= 1.0
    assert seen[-1] == 1.0  # the loss pushes them against the bound
    assert not frozen(model).any()
    assert (model.fc.weight.grad != 0).all()  # every weight still learns
