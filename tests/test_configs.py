"""Every config under configs/ loads, builds, and trains a step; names say what configs hold.

One generic test over all configs (models built as configured, a forward and backward pass on a
tiny batch), then checks that the binarizers, K, depth, stem and recipe of each Group-Net and
baseline config are what its file name says, and that the two-stage configs chain as intended.
"""
import copy
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope

from conftest import ROOT

CONFIG_ROOT = osp.join(ROOT, 'configs')
ALL_CONFIGS = sorted(osp.relpath(p, CONFIG_ROOT)
                     for p in glob.glob(osp.join(CONFIG_ROOT, '**', '*.py'), recursive=True))
MINE = ('groupnet/', 'baselines/', 'digits/', 'mnist/')
# Group-Net and baseline ResNets (``mmbnn.GroupNetResNet``): their names carry ``-r<depth>``; the
# other families in these folders (ReActNet-A, QuickNet, ...) have their own tests
# (tests/test_arch_*.py).
BINARY = [c for c in ALL_CONFIGS if c.startswith(MINE) and
          not osp.basename(c).startswith(('resnet', '_base')) and
          re.search(r'-r\d+', osp.basename(c))]
# Full-precision references: mmpretrain's ResNets, and the digits one.
FP_REFERENCES = [c for c in ALL_CONFIGS if c.startswith(MINE) and
                 osp.basename(c).startswith('resnet')]


def load(name):
    return Config.fromfile(osp.join(CONFIG_ROOT, name))


def feat_dim(backbone):
    if hasattr(backbone, 'feat_dim'):
        return backbone.feat_dim
    return backbone.layer4[-1].out_channels  # mmpretrain's ResNet (expansion included)


def fake_samples(n, num_classes):
    from mmpretrain.structures import DataSample
    return [DataSample().set_gt_label(i % num_classes) for i in range(n)]


def test_configs_found():
    assert len(BINARY) >= 30 and len(FP_REFERENCES) >= 4, (BINARY, FP_REFERENCES)


def narrow(model_cfg):
    """``model_cfg`` at width 8 (stem and stage-1 channels), all else as configured."""
    model_cfg = copy.deepcopy(model_cfg)
    bb = model_cfg.backbone
    expansion = 4 if bb.get('depth') in (50, 101, 152) else 1
    stages = 3 if bb.get('depth') == 20 else 4
    bb.update(stem_channels=8, base_channels=8)
    model_cfg.head.in_channels = 8 * 2**(stages - 1) * expansion
    return model_cfg


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """These small tensors gain nothing from threads, and lose much when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_full_size(model_cfg):
    """Build on the meta device (shapes without memory or time: Group-Net R50 K=5 has 120M
    parameters), or on the CPU for models that need real values to build (mmpretrain's ResNet
    computes its drop-path rates with ``.item()``)."""
    try:
        with torch.device('meta'):
            return ROOT_MODELS.build(model_cfg), 'meta'
    except (RuntimeError, NotImplementedError):
        return ROOT_MODELS.build(model_cfg), 'cpu'


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_builds_and_trains_a_step(name):
    """Every config loads and its model builds as configured. For the Group-Net, baseline and
    digits configs, also: the feature dim matches the head, the output has the classes' shape,
    and the same model at width 8 trains a step (finite loss, a gradient on every backbone
    parameter)."""
    cfg = load(name)
    if 'model' not in cfg:  # a _base_ fragment (dataset, schedule, runtime)
        assert osp.basename(name).startswith('_base') or name.startswith('_base_/'), \
            f'{name} defines no model'
        return
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    torch.manual_seed(0)
    model, device = build_full_size(cfg.model)  # as configured; no init_weights: no downloads
    if not name.startswith(MINE):  # the other folders' own tests run their models
        return
    if cfg.model.backbone.type != 'mmbnn.GroupNetResNet' and \
            name not in FP_REFERENCES:  # the other families: tests/test_arch_*.py
        return
    num_classes = cfg.model.head.num_classes
    assert feat_dim(model.backbone) == cfg.model.head.in_channels, name
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32, device=device), mode='tensor')
    assert out.shape == (1, num_classes)
    del model

    model_cfg = narrow(cfg.model)
    init = model_cfg.backbone.get('init_cfg') or {}
    if init.get('type') == 'Pretrained':
        model_cfg.backbone.init_cfg = None  # the checkpoint has the full width
    model = ROOT_MODELS.build(model_cfg)
    model.init_weights()
    model.train()
    losses = model(torch.randn(2, 3, 32, 32), fake_samples(2, num_classes), mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), f'{name}: a backbone parameter got no gradient'
    assert sum(g.abs().sum() for g in grads) > 0


def _built_backbone(cfg):
    """The config's backbone at width 8, built (defaults resolved by the class itself)."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    bb = narrow(cfg.model).backbone.copy()
    bb.pop('init_cfg', None)
    return ROOT_MODELS.build(bb)


def _binary_convs(backbone):
    from mmbnn.layers import BinaryConv2d
    return [m for m in backbone.modules() if isinstance(m, BinaryConv2d)]


# file-name prefix -> (activation binarizer, weight binarizer, act type, order, downsample,
# pad value)
EXPECTED = {
    'groupnet': ('ApproxSign', 'XNORWeight', 'ReLU', ('act', 'norm', 'add'), 'binary', 1.0),
    'bnn': ('STESign', 'SignWeight', 'ReLU', ('act', 'norm', 'add'), 'real', 0.0),
    'xnornet': ('STESign', 'XNORWeight', 'ReLU', ('act', 'norm', 'add'), 'real', 0.0),
    'birealnet': ('ApproxSign', 'XNORWeight', None, ('norm', 'add'), 'avgpool', 0.0),
    'reactnet': ('RSign', 'XNORWeight', 'RPReLU', ('norm', 'add', 'act'), 'avgpool', 0.0),
    'irnet': ('EDESign', 'IRNetWeight', None, ('norm', 'add'), 'avgpool', 0.0),
}


@pytest.mark.parametrize('name', BINARY)
def test_binary_config_is_what_its_name_says(name):
    """Checked on the built backbone (class defaults resolved), not on the config's text."""
    cfg = load(name)
    assert cfg.default_scope == 'mmpretrain'
    bb = cfg.model.backbone
    assert bb.type == 'mmbnn.GroupNetResNet'
    base = osp.basename(name)
    algo = base.split('-')[0]
    act, weight, act_type, order, downsample, pad = EXPECTED[algo]
    if 'stage1-tanh' in base:  # the full-precision proxy stage
        act, weight = 'FPProxy', None
    if '-shift' in base:  # per-base thresholds
        act = 'BaseShiftSign'
    model = _built_backbone(cfg)
    convs = _binary_convs(model)
    assert convs, name
    for conv in convs:
        assert type(conv.act_binarizer).__name__ == act, name
        assert (weight is None and conv.weight_binarizer is None) or \
            type(conv.weight_binarizer).__name__ == weight, name
        assert conv.pad_value == pad, name
    if 'stage1-tanh' in base:
        assert convs[0].act_binarizer.kind == 'tanh'
    block = model.layer1[0]
    assert type(getattr(block, 'act1', None)).__name__ == (act_type or 'NoneType')
    assert block.order == order
    ds = type(model.layer2[0].downsample[0]).__name__
    assert ds == {'binary': 'BinaryConv2d', 'real': 'RealDownsampleConv2d',
                  'avgpool': 'PooledConv2d'}[downsample], name
    # the stem ends without an activation: the first binary conv sees signed inputs
    assert model.stem_act_cfg is None and not hasattr(model, 'stem_act')
    hooks = [h.type for h in cfg.get('custom_hooks', [])]
    if algo == 'irnet':
        assert convs[0].weight_binarizer.gradient == 'ede'
        assert hooks == ['mmbnn.EDEHook']
    elif algo == 'bnn':  # BNN clips its latent weights to [-1, 1]
        assert hooks == ['mmbnn.LatentClampHook']
    else:
        assert hooks == [], hooks

    k = re.search(r'-(\d+)b[-_]', base)
    assert model.num_bases == (int(k.group(1)) if k else 1), name
    assert bb.get('soft_gate', False) == ('-soft' in base)
    assert model.decomposition == 'group'
    depth = int(re.search(r'-r(\d+)', base).group(1))
    assert model.depth == depth
    small = base.endswith(('cifar10.py', 'digits.py', 'mnist5k.py'))
    assert model.stem_type == ('cifar' if small else 'imagenet')
    expected_feat = {20: 64, 50: 2048}.get(depth, 512)
    if base.endswith(('digits.py', 'mnist5k.py')):
        assert bb.stem_channels == bb.base_channels == 16
        expected_feat = 128
    if depth == 20:
        assert bb.stem_channels == bb.base_channels == 16
    assert cfg.model.head.in_channels == expected_feat
    dataset = cfg.train_dataloader.dataset.type
    assert dataset == {'in1k': 'ImageNet', 'cifar10': 'CIFAR10',
                       'digits': 'mmbnn.DigitsDataset',
                       'mnist5k': 'mmbnn.MNIST5kDataset'}[base[:-3].rsplit('_', 1)[1]]


@pytest.mark.parametrize('name', FP_REFERENCES)
def test_full_precision_references_are_real(name):
    cfg = load(name)
    bb = cfg.model.backbone
    if bb.type == 'mmbnn.GroupNetResNet':  # ResNet-20: GroupNetResNet with binarizers off
        conv = bb.conv_cfg
        assert conv.act_binarizer is None and conv.weight_binarizer is None
    else:
        assert bb.type in ('ResNet', 'ResNet_CIFAR') and 'conv_cfg' not in bb
    depth = int(re.search(r'resnet(\d+)', osp.basename(name)).group(1))
    assert bb.depth == depth


def test_two_stage_recipe_chains():
    stage1_name = 'groupnet-r18-5b_stage1-tanh_8xb32_in1k'
    stage2_name = 'groupnet-r18-5b_stage2-binary_8xb32_in1k'
    with open(osp.join(CONFIG_ROOT, 'groupnet', stage2_name + '.py')) as f:
        assert "_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']" in f.read()
    stage1, stage2 = load(f'groupnet/{stage1_name}.py'), load(f'groupnet/{stage2_name}.py')
    single = load('groupnet/groupnet-r18-5b_8xb32_in1k.py')
    # stage 1 is the same model but for its conv (tanh proxy, real weights, same padding)
    stage1_model = copy.deepcopy(stage1.model)
    stage1_model.backbone.pop('conv_cfg')
    assert stage1_model == single.model
    assert stage1.model.backbone.conv_cfg.pad_value == 1.0

    # stage 1: full-precision proxy, SGD lr 0.05, 40 epochs
    assert stage1.model.backbone.conv_cfg.act_binarizer == dict(type='FPProxy', kind='tanh')
    assert stage1.model.backbone.conv_cfg.weight_binarizer is None
    assert stage1.optim_wrapper.optimizer.type == 'SGD'
    assert stage1.optim_wrapper.optimizer.lr == 0.05
    assert stage1.train_cfg.max_epochs == 40
    assert stage1.load_from is None
    # stage 2: the binary model of the one-stage config, fine-tuned from stage 1's last epoch
    assert stage2.model == single.model
    assert stage2.optim_wrapper.optimizer == dict(type='Adam', lr=5e-4, weight_decay=0)
    assert stage2.param_scheduler.milestones == [20, 30]
    assert stage2.train_cfg.max_epochs == 40
    assert stage2.load_from == (f'work_dirs/{stage1_name}/'
                                f'epoch_{stage1.train_cfg.max_epochs}.pth')

    # A stage-1 checkpoint loads into the stage-2 model key for key (narrow models: the keys
    # do not depend on the width).
    init_default_scope('mmpretrain')
    narrow = dict(stem_channels=8, base_channels=8)
    models = []
    for cfg in (stage1, stage2):
        model_cfg = cfg.model.copy()
        model_cfg.backbone.update(narrow)
        model_cfg.head.in_channels = 64
        models.append(ROOT_MODELS.build(model_cfg))
    result = models[1].load_state_dict(models[0].state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_torchvision_initialised_config():
    cfg = load('groupnet/groupnet-r18-5b_tv-init_8xb32_in1k.py')
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained',
                                               checkpoint='torchvision://resnet18')
    assert cfg.model.backbone.num_bases == 5


def test_readmes_list_every_config():
    for folder in ('groupnet', 'baselines', 'digits', 'mnist'):
        with open(osp.join(CONFIG_ROOT, folder, 'README.md')) as f:
            text = f.read()
        for name in ALL_CONFIGS:
            if name.startswith(folder + '/'):
                assert osp.basename(name) in text, f'{name} is missing from its README'
