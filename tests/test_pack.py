"""Packed 1-bit checkpoints: bits + scales, safe to load, bit-identical outputs."""
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from mmbnn.binarizers import WeightBinarizer, build_binarizer
from mmbnn.binarizers.packed import PackedBinaryWeight
from mmbnn.deploy import (binary_layers, is_packed, load_packed, pack_bits, pack_model,
                          packed_sizes, unpack_bits, unpack_state_dict)
from mmbnn.deploy.packing import PACKED_VERSION, sign_words, words_to_signs
from mmbnn.ops import pack_masks
from mmbnn.layers import BinaryLinear
from mmbnn.models.backbones import GroupNetResNet
from mmbnn.utils import safe_load

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_GROUPNET = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_groupnet_cls.py')
BIREAL_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                   weight_binarizer=dict(type='XNORWeight'))
# weight binarizers given in turn to the binary layers of the Bi-Real-like model
WEIGHT_BINARIZERS = [dict(type='XNORWeight'), dict(type='LayerScaleWeight'),
                     dict(type='IRNetWeight'), dict(type='LearnedScaleWeight'),
                     dict(type='SignWeight'), dict(type='DoReFaWeight', bits=1),
                     dict(type='IRNetWeight', gradient='ede')]


class Classifier(nn.Module):
    """A backbone, global pooling and a linear head."""

    def __init__(self, backbone, channels, head=None):
        super().__init__()
        self.backbone = backbone
        self.head = head or nn.Linear(channels, 10)

    def forward(self, x):
        return self.head(self.backbone(x)[-1].mean((2, 3)))


def randomise(model, seed):
    """Random weights, BN statistics and learned scales (some negative), a few exact zeros."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
                if name.endswith('running_var'):
                    t.abs_().add_(0.5)
                elif name.endswith('weight_binarizer.scale'):
                    t.mul_(5).add_(0.3)  # learned scales around 0.3, some below 0
                elif name.endswith('weight') and t.dim() == 4:
                    t.view(-1)[::17] = 0.0  # sign(0) = +1 must survive packing
    return model


def groupnet(seed=0, decomposition='group'):
    torch.manual_seed(seed)
    backbone = GroupNetResNet(depth=18, num_bases=3, stem_channels=8, base_channels=8,
                              decomposition=decomposition)
    return randomise(Classifier(backbone, 64), seed)


def bireal_like(seed=0):
    """Bi-Real-18 (width 8) whose binary layers cycle through several weight binarizers, a
    2-bit layer (not packable) and a binary linear head."""
    torch.manual_seed(seed)
    backbone = GroupNetResNet(depth=18, num_bases=1, stem_channels=8, base_channels=8,
                              conv_cfg=BIREAL_CONV, order=('norm', 'add'), act_cfg=None,
                              downsample='avgpool')
    for i, (_, m) in enumerate(binary_layers(backbone)):
        m.weight_binarizer = build_binarizer(WEIGHT_BINARIZERS[i % len(WEIGHT_BINARIZERS)],
                                             channels=m.out_channels)
    backbone.layer4[1].conv2.weight_binarizer = build_binarizer(dict(type='DoReFaWeight',
                                                                     bits=2))
    head = BinaryLinear(64, 10, weight_binarizer=dict(type='LearnedScaleWeight'))
    return randomise(Classifier(backbone, 64, head), seed)


def outputs(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def round_trip(make, tmp_path):
    model = make(0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    expected = outputs(model, x)
    packed = pack_model(model, meta=dict(epoch=3))
    path = tmp_path / 'packed.pth'
    torch.save(packed, path)
    # plain weights_only loading works: tensors, containers and primitives only
    torch.load(path, weights_only=True)
    loaded = safe_load(str(path))
    fresh = make(1)
    assert not torch.equal(outputs(fresh, x), expected)
    load_packed(fresh, loaded)
    assert torch.equal(outputs(fresh, x), expected)
    return model, packed, fresh


@pytest.mark.parametrize('decomposition', ['group', 'layer'])
def test_groupnet_round_trip(tmp_path, decomposition):
    model, packed, fresh = round_trip(lambda s: groupnet(s, decomposition), tmp_path)
    names = [n for n, _ in binary_layers(model)]
    assert packed['meta']['packed_layers'] == names and len(names) == 19  # 16 convs + 3 shortcuts
    assert packed['meta']['epoch'] == 3
    assert packed['meta']['packing']['unpacked_binary_layers'] == {}
    for name, m in binary_layers(fresh):
        assert isinstance(m.weight_binarizer, PackedBinaryWeight) and m.weight_bits == 1


def test_bireal_many_binarizers_round_trip(tmp_path):
    model, packed, fresh = round_trip(bireal_like, tmp_path)
    binarizers = {e['binarizer'] for e in packed['packed_weights'].values()}
    assert binarizers == {'XNORWeight', 'LayerScaleWeight', 'IRNetWeight', 'LearnedScaleWeight',
                          'SignWeight', 'DoReFaWeight'}
    assert 'head' in packed['packed_weights']  # the binary linear layer
    # the 2-bit layer is not a 1-bit layer: it keeps its float weight and its own binarizer
    assert packed['meta']['packing']['unpacked_binary_layers'] == {}
    assert 'backbone.layer4.1.conv2' not in packed['meta']['packed_layers']
    assert 'backbone.layer4.1.conv2.weight' in packed['state_dict']
    assert type(fresh.backbone.layer4[1].conv2.weight_binarizer).__name__ == 'DoReFaWeight'
    # the learned scales and EDE buffers are folded into the packed scales, not kept
    assert not [k for k in packed['state_dict'] if 'weight_binarizer' in k]
    # the negative learned scales survived
    assert any((e['scale'] < 0).any() for e in packed['packed_weights'].values()
               if e['binarizer'] == 'LearnedScaleWeight')


def words_per_row(shape):
    """64-bit words per output channel of a weight in the kernels' layout."""
    cin, taps = (shape[1], shape[2] * shape[3]) if len(shape) == 4 else (shape[1], 1)
    return taps * math.ceil(cin / 64)


def test_sizes_are_words_plus_scales(tmp_path):
    """Version 2 stores the kernels' 64-bit words (one convention from file to kernel): 1 bit
    per weight for 64 input channels per group and more, whole words below."""
    model = bireal_like(0)
    packed = pack_model(model)
    assert packed['meta']['packing']['version'] == PACKED_VERSION == 2
    numel = 0
    for name, entry in packed['packed_weights'].items():
        m = model.get_submodule(name)
        assert entry['shape'] == list(m.weight.shape)
        assert entry['words'].dtype == torch.int64 and 'bits' not in entry
        assert tuple(entry['words'].shape) == (m.weight.shape[0], words_per_row(m.weight.shape))
        assert entry['scale'].numel() in (1, m.weight.shape[0])
        assert f'{name}.weight' not in packed['state_dict']
        numel += m.weight.numel()
    sizes = packed_sizes(packed)
    assert sizes == {k: v for k, v in packed['meta']['packing'].items() if k in sizes}
    assert sizes['num_binary_weights'] == numel
    assert sizes['bits_bytes'] == sum(8 * e['words'].numel()
                                      for e in packed['packed_weights'].values())
    assert sizes['binary_float_bytes'] == 4 * numel
    assert sizes['scale_bytes'] == 4 * sum(e['scale'].numel()
                                           for e in packed['packed_weights'].values())
    wide = nn.Sequential(MODELS.build(dict(BIREAL_CONV, in_channels=128, out_channels=64,
                                           kernel_size=3, padding=1)))
    entry = pack_model(wide)['packed_weights']['0']
    assert 8 * entry['words'].numel() * 32 == 4 * 64 * 128 * 9  # exactly 1/32 of float32


def test_words_are_the_kernels_layout():
    """The words of a packed file are what mmbnn.ops.pack_weights gives (bit 1 = -1, taps
    major, channels LSB first), and convert() hands them to the kernels unchanged."""
    from mmbnn.deploy import convert
    from mmbnn.ops import pack_weights
    model = groupnet(0)
    packed = pack_model(model)
    fresh = load_packed(groupnet(1), packed)
    converted = convert(fresh, fuse=False)
    for name, entry in packed['packed_weights'].items():
        m = model.get_submodule(name)
        signs = m.weight_binarizer.binary_parts(m.weight.detach())[0]
        assert torch.equal(entry['words'], pack_weights(signs.reshape(
            signs.shape[0], -1, *signs.shape[2:]) if signs.dim() == 4 else
            signs.view(signs.shape[0], -1, 1, 1)))
        assert torch.equal(words_to_signs(entry['words'], entry['shape']), signs)
        layer = converted.get_submodule(name)
        words = getattr(layer, 'packed_weight', None)
        if words is None:  # a K-base conv: its bases' conv holds the words
            words = layer.conv.packed_weight
        assert torch.equal(words, entry['words'])


def test_version_1_files_still_load(tmp_path):
    """Files of version 1 (np.packbits, MSB first, bit 1 = +1) load to the same weights."""
    model = groupnet(0)
    v2 = pack_model(model)
    v1 = pack_model(model)
    v1['meta']['packing']['version'] = 1
    for entry in v1['packed_weights'].values():
        entry['bits'] = pack_bits(words_to_signs(entry.pop('words'), entry['shape']))
    a = load_packed(groupnet(1), v1)
    b = load_packed(groupnet(2), v2)
    for (na, ma), (nb, mb) in zip(binary_layers(a), binary_layers(b)):
        assert na == nb and torch.equal(ma.weight, mb.weight)
        assert torch.equal(ma.weight_binarizer.words, mb.weight_binarizer.words)
    v1['meta']['packing']['version'] = 3
    with pytest.raises(ValueError, match='version 3 is not supported'):
        load_packed(groupnet(1), v1)


def test_pack_bits_round_trip():
    signs = torch.tensor([1., -1., 1., 1., -1., -1., -1., 1., -1., 1., 1.])
    bits = pack_bits(signs)
    assert bits.tolist() == [0b10110001, 0b01100000]  # MSB first, zero-padded
    assert torch.equal(unpack_bits(bits, [11]), signs)
    w = torch.randn(5, 3, 3, 3, dtype=torch.float64)
    s = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
    assert torch.equal(unpack_bits(pack_bits(s), list(w.shape), torch.float64), s)
    with pytest.raises(ValueError, match='uint8'):
        unpack_bits(bits, [17])


def test_repack_loaded_model_gives_same_bits():
    model = groupnet(0)
    packed = pack_model(model)
    fresh = load_packed(groupnet(1), packed)
    again = pack_model(fresh)
    assert again['meta']['packed_layers'] == packed['meta']['packed_layers']
    for name, entry in packed['packed_weights'].items():
        assert torch.equal(again['packed_weights'][name]['words'], entry['words'])
        assert torch.equal(again['packed_weights'][name]['scale'], entry['scale'])
    assert not PackedBinaryWeight().state_dict()  # nothing persistent


def test_unpack_state_dict():
    model = groupnet(0)
    packed = pack_model(model)
    state, binarizers = unpack_state_dict(packed)
    assert list(binarizers) == packed['meta']['packed_layers']
    assert set(state) == set(model.state_dict()) - {
        k for k in model.state_dict() if '.weight_binarizer.' in k}
    for name in binarizers:
        m = model.get_submodule(name)
        assert torch.equal(state[f'{name}.weight'], m.weight_binarizer(m.weight.detach()))


class BrokenParts(WeightBinarizer):
    """A binarizer whose ``binary_parts`` does not match its forward."""

    def forward(self, w):
        return torch.where(w >= 0, 1.0, -1.0) * 2

    def binary_parts(self, w):
        return torch.where(w >= 0, 1.0, -1.0), w.new_ones(()), None


def test_inconsistent_binarizer_is_kept_in_full_precision():
    model = groupnet(0)
    model.backbone.layer1[0].conv1.weight_binarizer = BrokenParts()
    with pytest.warns(UserWarning, match='layer1.0.conv1'):
        packed = pack_model(model)
    assert 'backbone.layer1.0.conv1' not in packed['packed_weights']
    assert 'backbone.layer1.0.conv1.weight' in packed['state_dict']


def test_load_packed_errors():
    model = groupnet(0)
    with pytest.raises(ValueError, match='not a packed checkpoint'):
        load_packed(model, dict(state_dict=model.state_dict()))
    packed = pack_model(model)
    assert is_packed(packed) and not is_packed(dict(state_dict={}))
    packed['packed_weights']['backbone.nowhere'] = packed['packed_weights'][
        'backbone.layer1.0.conv1']
    with pytest.raises(KeyError, match='backbone.nowhere'):
        load_packed(groupnet(1), packed)


def build_from_config(cfg):
    init_default_scope(cfg.get('default_scope', 'mmbnn'))
    return MODELS.build(cfg.model)


def test_pack_tool(tmp_path):
    """tools/deploy/pack.py on a tiny Group-Net classifier config, as a user runs it."""
    options = ['model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
               'model.head.in_channels=64', 'model.head.num_classes=10']
    cfg = Config.fromfile(TINY_GROUPNET)  # the same overrides as the options above
    cfg.model.backbone.stem_channels = 8
    cfg.model.backbone.base_channels = 8
    cfg.model.head.in_channels = 64
    cfg.model.head.num_classes = 10
    model = randomise(build_from_config(cfg), 0)
    ckpt = tmp_path / 'float.pth'
    torch.save(dict(meta=dict(epoch=1, note='fresh'), state_dict=model.state_dict()), ckpt)
    out = tmp_path / 'packed.pth'
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'deploy', 'pack.py'), TINY_GROUPNET, str(ckpt),
           str(out), '--cfg-options', *options]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'packed 19 binary layers' in proc.stdout
    assert proc.stdout.count(' B packed, saved ') == 19  # per layer: what packing saved
    packed = safe_load(str(out))
    assert packed['meta']['note'] == 'fresh' and packed['meta']['packed_from'] == str(ckpt)
    assert len(packed['meta']['packed_layers']) == 19
    assert out.stat().st_size < ckpt.stat().st_size / 5

    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    model.eval()
    with torch.no_grad():
        expected = model(x, mode='tensor')
    fresh = randomise(build_from_config(cfg), 1)
    load_packed(fresh, str(out)).eval()
    with torch.no_grad():
        assert torch.equal(fresh(x, mode='tensor'), expected)


# ------------------------------------------------------------------------------ sparse layers
def sparse_net(seed=0):
    """Binary convs with pruned +-1 weights (per layer), the generalised domain (sign and
    quantile modes) and a binary linear head with pruned weights."""
    torch.manual_seed(seed)
    conv = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'))
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        MODELS.build(dict(conv, in_channels=16, out_channels=32, kernel_size=3, padding=1,
                          weight_binarizer=dict(type='PrunedSignWeight', ec=0.1))),
        MODELS.build(dict(conv, in_channels=32, out_channels=32, kernel_size=3, padding=1,
                          weight_binarizer=dict(type='SparseBinaryWeight', ec=0.1))),
        MODELS.build(dict(conv, in_channels=32, out_channels=16, kernel_size=3, padding=1,
                          weight_binarizer=dict(type='SparseBinaryWeight', ec=0.05,
                                                threshold='quantile', init='fit'))),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        BinaryLinear(16, 10, weight_binarizer=dict(type='PrunedSignWeight', ec=0.25)))
    with torch.no_grad():
        net(torch.randn(2, 3, 8, 8))  # the lazy least-squares fits
        for m in net.modules():
            if hasattr(m, 'weight_binarizer'):
                m.weight.add_(torch.randn(m.weight.shape) * 0.05)
                m.weight_binarizer.tau.mul_(1.7)
    return net


def test_sparse_layers_pack_to_bits_mask_and_one_scale(tmp_path):
    """Pruned +-1 layers pack to sign words + mask words + one scale, not to a float tensor of
    the weight's size (which made them larger than their float weights); the generalised
    domain to its sign words (bit 0 = the active value offset + tau) + tau + phi. Outputs stay
    bit-identical, and meta['packing']['layers'] says per layer what was saved."""
    model = sparse_net(0)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    expected = outputs(model, x)
    packed = pack_model(model)
    layers = packed['meta']['packing']['layers']
    assert list(layers) == ['1', '2', '3', '6'] == packed['meta']['packed_layers']
    for name, entry in packed['packed_weights'].items():
        m = model.get_submodule(name)
        n = m.weight.numel()
        pruned = entry['binarizer'] == 'PrunedSignWeight'
        assert entry['scale'].numel() == 1
        assert ('mask' in entry) == pruned and ('offset' in entry) == (not pruned)
        words = 8 * m.weight.shape[0] * words_per_row(m.weight.shape)
        packed_bytes = (2 if pruned else 1) * words + (4 if pruned else 8)
        assert layers[name] == dict(binarizer=entry['binarizer'], float_bytes=4 * n,
                                    packed_bytes=packed_bytes,
                                    saved_bytes=4 * n - packed_bytes)
        signs, mask, scale, offset = m.weight_binarizer.sparse_parts(m.weight.detach())
        assert torch.equal(words_to_signs(entry['words'], entry['shape']), signs)
        if pruned:  # the mask in the sparse kernel's layout (bit 1 = kept)
            assert torch.equal(entry['mask'], pack_masks(mask.float().reshape(
                mask.shape[0], -1, *mask.shape[2:]) if mask.dim() == 4 else
                mask.float().view(mask.shape[0], -1, 1, 1)))
        else:  # bit 0 is the active value offset + tau
            assert torch.equal(words_to_signs(entry['words'], entry['shape']) > 0,
                               m.weight_binarizer.active_mask(m.weight))
            assert entry['offset'].item() == m.weight_binarizer.phi.item()
    # the 16 -> 32 3x3 pruned conv of the defect: sign and mask words (16 input channels fill a
    # quarter of each word) + 4 B, against 18,432 B of floats and 576 B + 18,432 B before
    assert layers['1']['packed_bytes'] == 2 * 32 * 9 * 8 + 4 and \
        layers['1']['float_bytes'] == 18432
    path = tmp_path / 'packed.pth'
    torch.save(packed, path)
    fresh = load_packed(sparse_net(1), safe_load(str(path)))
    assert torch.equal(outputs(fresh, x), expected)
    again = pack_model(fresh)  # a loaded sparse model packs again to the same bits and mask
    for name, entry in packed['packed_weights'].items():
        for k in ('words', 'mask', 'scale', 'offset'):
            if k in entry:
                assert torch.equal(again['packed_weights'][name][k], entry[k]), (name, k)
    assert again['meta']['packing']['layers']['1']['packed_bytes'] == 2 * 32 * 9 * 8 + 4


def test_packed_layers_refuse_training():
    """A model loaded from a packed file holds signs x scales only: it evaluates exactly, and
    refuses to train (instead of silently training the rebuilt weights as float weights)."""
    model = groupnet(0)
    loaded = groupnet(1)
    load_packed(loaded, pack_model(model))
    loaded.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x)[-1], model.eval()(x)[-1], rtol=0, atol=0)
    loaded.train()
    with pytest.raises(RuntimeError, match='packed 1-bit checkpoint'):
        loaded(x)


def test_utils_do_not_import_the_deploy_layer():
    """mmbnn.utils is the lowest layer: the packed format registers its reader into the
    checkpoint loader (register_checkpoint_reader) instead of the loader importing deploy."""
    import ast
    import glob
    import os.path as osp

    from mmbnn.deploy.packing import as_loadable_checkpoint
    from mmbnn.utils.checkpoint import CHECKPOINT_READERS
    root = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'mmbnn', 'utils')
    for path in glob.glob(osp.join(root, '*.py')):
        for node in ast.walk(ast.parse(open(path).read())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ''] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.startswith('mmbnn.deploy') for n in names), (path, names)
    assert as_loadable_checkpoint in CHECKPOINT_READERS
