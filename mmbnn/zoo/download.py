"""Verified downloads and the ``mmbnn://<model-name>`` checkpoint scheme.

``CheckpointLoader.load_checkpoint('mmbnn://groupnet-r18-w16-5b_1xb64_digits')`` (and so
``load_checkpoint(model, ...)``, ``load_from``, ``init_cfg=dict(type='Pretrained', ...)`` and
``tools/test.py CONFIG mmbnn://NAME``) looks the name up in the model index
(:mod:`mmbnn.zoo.index`), resolves its ``Weights`` against the zoo base URL (``$MMBNN_ZOO_URL``,
by default the release folder that mmbnn ships), fetches the file once into
``torch.hub.get_dir()/checkpoints/`` and loads it with :func:`mmbnn.utils.safe_load`. A packed
1-bit file comes back as an ordinary state dict
(:func:`mmbnn.deploy.packing.as_loadable_checkpoint`) that loads into the float model.

The transfer is torch.hub's ``download_url_to_file`` (``file://`` and ``http(s)://`` alike): a
temporary ``<file>.<uuid>.partial`` next to the destination, a progress bar, and the SHA-256 of
the bytes checked before the file is moved into place; on any failure the temporary file is
deleted. mmbnn hands it the full SHA-256 from the metafile (``Metadata: Weights SHA256``) as the
"prefix", so the whole hash is checked, and adds what torch.hub lacks: the index look-up, the
check that the short hash in the file name (``name_YYYYMMDD-<8+ hex>.pth``) agrees with the full
one before anything is fetched, errors that name the model, the file and the URL, and the hash
of a cached file on every use.

A cached file that no longer matches (mmbnn only ever moves verified files into the cache, so
something else wrote or damaged it) is never loaded: it is fetched again once, verified, and
replaces the damaged file; if the source cannot be reached, or gives the wrong bytes too, it is
refused (:class:`ChecksumError`) with its path and the command that removes it.

In a distributed run rank 0 fetches first while the other ranks wait for its outcome (a
broadcast, where a barrier would leave them waiting forever if rank 0 failed); when rank 0
fails, every rank raises its error.
"""
import hashlib
import http.client
import logging
import os
import os.path as osp
import re
import shlex
import urllib.error
from typing import Optional

import torch
from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader

from mmbnn.deploy.packing import as_loadable_checkpoint
from mmbnn.utils import safe_load
from .index import SHA256_KEY, ModelInfo, get_model_info

__all__ = ['SCHEME', 'DownloadError', 'ChecksumError', 'hash_prefix', 'sha256sum',
           'download_checkpoint', 'load_from_mmbnn']

#: The checkpoint scheme registered with mmengine's ``CheckpointLoader``.
SCHEME = 'mmbnn://'
_HASH_PREFIX_RE = re.compile(r'-([0-9a-f]{8,64})\.[A-Za-z0-9]+$')
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A checkpoint could not be fetched (nothing was cached)."""


class ChecksumError(DownloadError):
    """A checkpoint's bytes, or its file name's hash, do not match the model index."""


def hash_prefix(filename: str) -> Optional[str]:
    """The short hash in an OpenMMLab checkpoint name (``..._20240101-3f0c9a1e.pth`` ->
    ``'3f0c9a1e'``), or None if the name has none."""
    m = _HASH_PREFIX_RE.search(osp.basename(filename))
    return m.group(1) if m else None


def sha256sum(path: str) -> str:
    """The SHA-256 of a file, in hex."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            h.update(chunk)
    return h.hexdigest()


def _checked_info(name: str, index: Optional[str]) -> ModelInfo:
    """The model's entry, after checking that the index gives weights and a full hash and that
    the file name's short hash agrees with the full one."""
    info = get_model_info(name, index)
    if not info.weights:
        raise KeyError(f'model {name!r} ({info.metafile}) has no Weights: it is not published')
    if info.sha256 is None:
        raise ChecksumError(
            f'model {name!r} ({info.metafile}) has no Metadata[{SHA256_KEY!r}]: mmbnn:// only '
            f'loads weights whose full SHA-256 the metafile gives')
    filename = info.filename
    prefix = hash_prefix(filename or '')
    if prefix is None:
        raise ChecksumError(
            f'model {name!r}: the file name {filename!r} of {info.weights} has no hash prefix '
            f'(expected OpenMMLab\'s name_YYYYMMDD-<first 8+ hex digits of the sha256>.pth)')
    if not info.sha256.startswith(prefix):
        raise ChecksumError(
            f'model {name!r}: the hash prefix in the file name {filename!r} ({prefix}) does not '
            f'match Metadata[{SHA256_KEY!r}] = {info.sha256} in {info.metafile}; the index is '
            f'inconsistent, nothing was downloaded')
    return info


def _fetch(info: ModelInfo, url: str, dst: str, progress: bool) -> None:
    """torch.hub's verified download of ``url`` to ``dst``, its errors named."""
    os.makedirs(osp.dirname(dst), exist_ok=True)
    what = f'model {info.name!r}: file {info.filename} from {url}'
    try:
        torch.hub.download_url_to_file(url, dst, hash_prefix=info.sha256, progress=progress)
    except urllib.error.HTTPError as e:
        raise DownloadError(f'{what}: HTTP {e.code} {e.reason}; nothing was cached') from e
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, FileNotFoundError) or url.startswith('file:'):
            raise DownloadError(
                f'{what}: no such file ({reason}); the index lists it but the zoo folder does '
                f'not have it (publish it, or point $MMBNN_ZOO_URL at a folder or mirror that '
                f'has it); nothing was cached') from e
        raise DownloadError(f'{what}: cannot reach the server ({reason}); nothing was '
                            f'cached') from e
    except RuntimeError as e:
        if 'invalid hash value' not in str(e):
            raise
        raise ChecksumError(
            f'{what}: the bytes do not match Metadata[{SHA256_KEY!r}] = {info.sha256} in '
            f'{info.metafile} (torch.hub: {e}); the file was not kept') from e
    except (OSError, http.client.HTTPException) as e:  # a connection cut short, a disk error
        raise DownloadError(f'{what}: {e!r}; nothing was cached') from e


def download_checkpoint(name: str, index: Optional[str] = None, hub_dir: Optional[str] = None,
                        dest: Optional[str] = None, progress: bool = True) -> str:
    """Fetch the weights of model ``name`` once and return the path of the verified file.

    Args:
        name (str): A ``Name`` in the model index.
        index (str, optional): The ``model-index.yml``; see
            :func:`~mmbnn.zoo.index.find_model_index`. Default: None.
        hub_dir (str, optional): The torch hub folder; files go to ``<hub_dir>/checkpoints``.
            Default: None, ``torch.hub.get_dir()``.
        dest (str, optional): A folder to put the file in instead of the hub cache.
            Default: None.
        progress (bool): Show torch.hub's progress bar while downloading. Default: True.

    Raises:
        KeyError: Unknown model (the message gives close names), or no Weights.
        ChecksumError: The index is inconsistent, the fetched file does not match, or a cached
            file that does not match could not be fetched again (the message gives its path and
            the command that removes it). Nothing unverified is ever returned.
        DownloadError: The file is missing or the server unreachable. Nothing is cached.
    """
    info = _checked_info(name, index)
    url = info.url()
    folder = dest
    if folder is None:
        folder = osp.join(hub_dir or torch.hub.get_dir(), 'checkpoints')
    dst = osp.join(folder, info.filename)
    if not osp.isfile(dst):
        print_log(f'Downloading {name} from {url} to {dst}', logger='current')
        _fetch(info, url, dst, progress)
        return _verified(info, dst)
    actual = sha256sum(dst)
    if actual == info.sha256:
        return dst
    damaged = (f'model {name!r}: the cached file {dst} has SHA-256 {actual}, expected '
               f'{info.sha256} (Metadata[{SHA256_KEY!r}] in {info.metafile}); mmbnn only caches '
               f'verified downloads, so something else changed or wrote it')
    print_log(f'{damaged}. Not loading it; fetching it again from {url}', logger='current',
              level=logging.WARNING)
    try:
        _fetch(info, url, dst, progress)  # verified before it replaces the damaged file
    except DownloadError as e:
        raise ChecksumError(
            f'{damaged}. It was not loaded, and fetching it again failed: {e}. Remove it '
            f'(rm {shlex.quote(dst)}) and load the model again where {url} can be '
            f'reached') from e
    return _verified(info, dst)


def _verified(info: ModelInfo, path: str) -> str:
    """``path`` after checking its bytes once more (what is loaded is what was verified)."""
    actual = sha256sum(path)
    if actual != info.sha256:
        raise ChecksumError(
            f'model {info.name!r}: {path} has SHA-256 {actual} right after a verified download, '
            f'expected {info.sha256}; something else writes to it. Remove it (rm '
            f'{shlex.quote(path)}) and load the model again')
    return path


@CheckpointLoader.register_scheme(prefixes=SCHEME)
def load_from_mmbnn(filename: str, map_location=None):
    """mmengine loader for ``mmbnn://<model-name>``: a verified download
    (:func:`download_checkpoint`; in a distributed run rank 0 first, the others after hearing
    its outcome, and all of them raise if it failed), then
    :func:`mmbnn.utils.safe_load` with ``map_location``; a packed 1-bit file as an ordinary
    state dict (:func:`~mmbnn.deploy.packing.as_loadable_checkpoint`)."""
    name = filename[len(SCHEME):]
    rank, world_size = get_dist_info()
    if world_size == 1:
        path = download_checkpoint(name)
    else:
        path, error = None, None
        if rank == 0:
            try:
                path = download_checkpoint(name)
            except Exception as e:  # every rank must hear of it, whatever it is
                error = e
        # In place of a barrier: the others wait for rank 0's outcome, failure included.
        outcome = [None if error is None else f'{type(error).__name__}: {error}']
        broadcast_object_list(outcome, src=0)
        if error is not None:
            raise error
        if outcome[0] is not None:
            raise DownloadError(f'rank {rank}: rank 0 could not fetch {filename}, so this rank '
                                f'stops too: {outcome[0]}')
        if rank > 0:
            path = download_checkpoint(name)
    return as_loadable_checkpoint(safe_load(path, map_location=map_location))
