"""Safe checkpoint loading: weights_only=True with mmbnn's allow-list, foreign objects refused."""
import argparse
import collections
import fractions
import os
import os.path as osp
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import CheckpointLoader, load_checkpoint

from mmbnn.utils import UnsafeCheckpointError, safe_load
from mmbnn.utils.checkpoint import load_from_local


def test_local_files_go_through_mmbnn_loader():
    assert CheckpointLoader._get_checkpoint_loader('work_dirs/x/epoch_1.pth') is load_from_local


def runner_like_checkpoint(path):
    """What the Runner puts in a checkpoint beside the weights: a message hub state with
    HistoryBuffers of numpy arrays, numpy scalars in the meta."""
    hub = MessageHub.get_instance('mmbnn_test_checkpoint')
    for v in (0.7, 0.5, 0.25):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', 3)
    ckpt = dict(meta=dict(iter=3, seed=torch.tensor(0).numpy().item(), score=torch.ones(2).numpy(),
                          best=torch.ones(()).numpy()[()]),
                state_dict={'w': torch.randn(3, 3)}, message_hub=hub.state_dict())
    torch.save(ckpt, path)
    return ckpt


def test_runner_state_loads_with_weights_only(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    saved = runner_like_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):  # torch alone refuses it...
        torch.load(path, weights_only=True)
    loaded = load_checkpoint(torch.nn.Linear(3, 3), path, map_location='cpu', strict=False)
    assert torch.equal(loaded['state_dict']['w'], saved['state_dict']['w'])  # ...mmbnn loads it
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx((0.7 + 0.5 + 0.25) / 3)
    assert buf.statistics('current') == 0.25
    assert (loaded['meta']['score'] == 1).all()


def test_foreign_object_is_refused_with_its_name(tmp_path):
    path = str(tmp_path / 'foreign.pth')
    torch.save(dict(state_dict={'w': torch.zeros(1)}, meta=dict(args=argparse.Namespace(lr=1))),
               path)
    with pytest.raises(UnsafeCheckpointError, match=r'argparse\.Namespace'):
        safe_load(path)
    with pytest.raises(UnsafeCheckpointError, match='Refusing to load checkpoint'):
        CheckpointLoader.load_checkpoint(path)
    # A caller who trusts the type can say so, for that call only.
    assert safe_load(path, extra_globals=[argparse.Namespace])['meta']['args'].lr == 1
    with pytest.raises(UnsafeCheckpointError):
        safe_load(path)


class _GetattrGadget:
    """Pickles as getattr(HistoryBuffer, '__init__'), which a general getattr would allow."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_getattr_is_allowed_only_for_history_buffer_statistics(tmp_path):
    path = str(tmp_path / 'gadget.pth')
    torch.save({'x': _GetattrGadget()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"getattr\(.*'__init__'\) is not allowed"):
        safe_load(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        CheckpointLoader.load_checkpoint(osp.join(tmp_path, 'nothere.pth'))


class _SystemCall:
    """Pickles as os.system('...'): what a malicious checkpoint carries."""

    def __reduce__(self):
        return os.system, ('echo this must never run',)


@pytest.mark.parametrize('zip_format', [True, False], ids=['zip', 'legacy'])
def test_refusal_names_the_object_in_both_formats(tmp_path, zip_format):
    """torch's message for a legacy (non-zip) file keeps the refused global on a later line;
    the refusal names it for both formats, and only the foreign one."""
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'x': _SystemCall()}, path,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UnsafeCheckpointError) as exc:
        safe_load(path)
    message = str(exc.value)
    system = f'{os.system.__module__}.system'  # posix.system on Linux
    assert f'({system})' in message, message
    assert 'Weights only load failed' not in message and '_rebuild_tensor' not in message


@pytest.mark.parametrize('zip_format', [True, False], ids=['zip', 'legacy'])
def test_every_foreign_object_is_named(tmp_path, zip_format):
    path = str(tmp_path / 'two.pth')
    torch.save({'args': argparse.Namespace(lr=1), 'od': collections.OrderedDict(a=1),
                'frac': fractions.Fraction(1, 3)}, path,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UnsafeCheckpointError, match=r'\(argparse\.Namespace, '
                       r'fractions\.Fraction\)'):
        safe_load(path)
    # a type the caller trusts is no longer named
    with pytest.raises(UnsafeCheckpointError, match=r'\(fractions\.Fraction\)'):
        safe_load(path, extra_globals=[argparse.Namespace])
