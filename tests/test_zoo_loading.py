"""A packed 1-bit file loads into the float model wherever a checkpoint path is accepted, with
bit-identical outputs: mmengine's CheckpointLoader (local files), load_checkpoint,
init_cfg=Pretrained, torch's load_state_dict, load_packed; a plain checkpoint is unaffected.

The models (from test_pack) cover binarizers that do not give back their own output when
applied again (XNOR's and Group-Net's mean-|w| scales, IR-Net's standardisation, learned scales,
the sparse domains), so a loader that only rebuilt the float weights would not be exact: the
negative control below shows it."""
import copy

import pytest
import torch
from mmengine.model import BaseModule
from mmengine.runner import CheckpointLoader, load_checkpoint
from test_pack import bireal_like, groupnet, outputs, sparse_net

from mmbnn.binarizers.packed import PackedBinaryWeight
from mmbnn.deploy import binary_layers, load_packed, pack_model
from mmbnn.deploy.packing import PACKED_BINARIZER_KEYS, as_loadable_checkpoint

MODELS = {'bireal_like': (bireal_like, (2, 3, 32, 32)),
          'groupnet_layer': (lambda s: groupnet(s, 'layer'), (2, 3, 32, 32)),
          'sparse': (sparse_net, (2, 3, 8, 8))}


class Wrapped(BaseModule):
    """A test model as an mmengine BaseModule with the same state dict keys, for
    init_cfg=Pretrained."""

    def __init__(self, net, init_cfg=None):
        super().__init__(init_cfg)
        for name, child in net.named_children():
            self.add_module(name, child)
        self.sequential = isinstance(net, torch.nn.Sequential)
        self._forward = type(net).forward

    def forward(self, x):
        if self.sequential:
            for m in self.children():
                x = m(x)
            return x
        return self._forward(self, x)


@pytest.fixture(params=list(MODELS), scope='module')
def packed_file(request, tmp_path_factory):
    make, shape = MODELS[request.param]
    model = make(0)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
    expected = outputs(model, x)
    path = tmp_path_factory.mktemp(request.param) / 'packed.pth'
    packed = pack_model(model)
    assert packed['packed_weights']
    torch.save(packed, path)
    return dict(make=make, x=x, expected=expected, path=str(path), packed=packed,
                names=list(packed['packed_weights']))


def fresh(packed_file):
    model = packed_file['make'](1)
    assert not torch.equal(outputs(model, packed_file['x']), packed_file['expected'])
    return model


def test_checkpoint_loader_returns_an_ordinary_state_dict(packed_file):
    ckpt = CheckpointLoader.load_checkpoint(packed_file['path'], map_location='cpu')
    assert set(ckpt) == {'meta', 'state_dict'}
    state = ckpt['state_dict']
    for name in packed_file['names']:
        entry = packed_file['packed']['packed_weights'][name]
        assert state[f'{name}.weight'].shape == tuple(entry['shape'])
        assert state[f'{name}.weight'].dtype == torch.float32
        assert torch.equal(state[f'{name}.{PACKED_BINARIZER_KEYS[0]}'], entry['scale'])


def test_mmengine_load_checkpoint_is_bit_identical(packed_file):
    model = fresh(packed_file)
    load_checkpoint(model, packed_file['path'], map_location='cpu', strict=True)
    assert torch.equal(outputs(model, packed_file['x']), packed_file['expected'])
    for name in packed_file['names']:
        assert isinstance(model.get_submodule(name).weight_binarizer, PackedBinaryWeight)
    # a loaded model packs again to the same bits
    again = pack_model(model)['packed_weights']
    for name, entry in packed_file['packed']['packed_weights'].items():
        assert torch.equal(again[name]['words'], entry['words'])


def test_pretrained_init_cfg_is_bit_identical(packed_file):
    model = Wrapped(fresh(packed_file),
                    init_cfg=dict(type='Pretrained', checkpoint=packed_file['path']))
    model.init_weights()
    assert torch.equal(outputs(model, packed_file['x']), packed_file['expected'])


def test_torch_load_state_dict_and_deepcopy(packed_file):
    model = copy.deepcopy(fresh(packed_file))  # the load hook survives a deep copy
    state = as_loadable_checkpoint(torch.load(packed_file['path'], weights_only=True))
    model.load_state_dict(state['state_dict'], strict=True)
    assert torch.equal(outputs(model, packed_file['x']), packed_file['expected'])


def test_load_packed_takes_a_path_and_the_loadable_form(packed_file):
    model = load_packed(fresh(packed_file), packed_file['path'])
    assert torch.equal(outputs(model, packed_file['x']), packed_file['expected'])
    with pytest.raises(ValueError, match='not a packed checkpoint'):
        load_packed(fresh(packed_file), dict(state_dict=fresh(packed_file).state_dict()))


def test_rebuilt_weights_alone_are_not_exact():
    """Negative control: without the frozen binarizers the float model re-binarizes the
    rebuilt weights, and the outputs differ (so the load hook is what makes them exact)."""
    model = bireal_like(0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    expected = outputs(model, x)
    state = as_loadable_checkpoint(pack_model(model))['state_dict']
    stripped = {k: v for k, v in state.items()
                if not any(k.endswith(s) for s in PACKED_BINARIZER_KEYS)}
    other = bireal_like(1)
    other.load_state_dict(stripped, strict=False)
    assert not torch.equal(outputs(other, x), expected)


def test_plain_checkpoint_is_unaffected(tmp_path):
    model = bireal_like(0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    path = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    other = bireal_like(1)
    types = [type(m.weight_binarizer) for _, m in binary_layers(other)]
    load_checkpoint(other, str(path), map_location='cpu', strict=True)
    assert [type(m.weight_binarizer) for _, m in binary_layers(other)] == types
    assert torch.equal(outputs(other, x), outputs(model, x))
