"""Safe checkpoint loading: weights_only=True with mmbnn's allow-list, foreign objects refused."""
import argparse
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
