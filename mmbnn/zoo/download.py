"""Verified checkpoint downloads and the ``mmbnn://<model-name>`` checkpoint scheme.

``CheckpointLoader.load_checkpoint('mmbnn://groupnet-r18-5b_8xb32_in1k')`` (and therefore
``load_checkpoint(model, ...)``, ``load_from`` and ``init_cfg=dict(type='Pretrained', ...)``)
looks the name up in the model index (:mod:`mmbnn.zoo.index`), downloads the ``Weights`` URL once
into ``torch.hub.get_dir()/checkpoints/`` and loads it with :func:`mmbnn.utils.safe_load`.

Every file is checked before it is used, against two hashes: the short hash in its name
(OpenMMLab's ``name_YYYYMMDD-<first 8+ hex digits of the sha256>.pth``) and the full SHA-256 in the
metafile (``Metadata: Weights SHA256``). A download goes to a temporary file in the cache folder
and is moved into place (``os.replace``) only once it is complete and verified; on any failure
the temporary file is deleted, so an interrupted or corrupted download is never cached.

A file already in the cache is hashed again on every use. If it does not match it is refused
(:class:`ChecksumError`) and left where it is for the user to delete: mmbnn only ever moves
verified files into the cache, so a mismatch means that something else wrote or damaged the file,
and deleting or silently replacing a file mmbnn cannot account for is the user's call.
"""
import hashlib
import http.client
import os
import os.path as osp
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader

from mmbnn.utils import safe_load
from .index import SHA256_KEY, ModelInfo, get_model_info

__all__ = ['SCHEME', 'DownloadError', 'ChecksumError', 'hash_prefix', 'sha256sum',
           'download_checkpoint', 'load_from_mmbnn']

#: The checkpoint scheme registered with mmengine's ``CheckpointLoader``.
SCHEME = 'mmbnn://'
_HASH_PREFIX_RE = re.compile(r'-([0-9a-f]{8,64})\.[A-Za-z0-9]+$')
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A checkpoint could not be downloaded completely (nothing was cached)."""


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


def _checked_info(name: str, index: Optional[str]):
    """The model's entry, its URL and its file name, after checking that the index gives a
    URL and a full hash and that the file name's short hash agrees with the full one."""
    info = get_model_info(name, index)
    if not info.weights:
        raise KeyError(f'model {name!r} ({info.metafile}) has no Weights URL')
    if info.sha256 is None:
        raise ChecksumError(
            f'model {name!r} ({info.metafile}) has no Metadata[{SHA256_KEY!r}]: mmbnn:// only '
            f'loads weights whose full SHA-256 the metafile gives')
    filename = osp.basename(urllib.parse.urlparse(info.weights).path)
    if not filename:
        raise KeyError(f'model {name!r}: cannot take a file name from its Weights URL '
                       f'{info.weights!r}')
    prefix = hash_prefix(filename)
    if prefix is None:
        raise ChecksumError(
            f'model {name!r}: the file name {filename!r} of {info.weights} has no hash prefix '
            f'(expected OpenMMLab\'s name_YYYYMMDD-<first 8+ hex digits of the sha256>.pth)')
    if not info.sha256.startswith(prefix):
        raise ChecksumError(
            f'model {name!r}: the hash prefix in the file name {filename!r} ({prefix}) does not '
            f'match Metadata[{SHA256_KEY!r}] = {info.sha256} in {info.metafile}; the index is '
            f'inconsistent, nothing was downloaded')
    return info, filename


def _fetch(info: ModelInfo, dst: str, timeout: float) -> None:
    """Download ``info.weights`` to ``dst`` through a temporary file, verified."""
    url, name = info.weights, info.name
    folder = osp.dirname(dst)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(dst)}.', suffix='.partial', dir=folder)
    received, expected_len = 0, None
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, 'wb') as f:
            try:
                request = urllib.request.Request(url, headers={'User-Agent': 'mmbnn'})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    length = response.headers.get('Content-Length')
                    expected_len = int(length) if length and length.isdigit() else None
                    while True:
                        chunk = response.read(_CHUNK)
                        if not chunk:
                            break
                        f.write(chunk)
                        h.update(chunk)
                        received += len(chunk)
            except urllib.error.HTTPError as e:
                raise DownloadError(f'model {name!r}: downloading {url} failed: HTTP {e.code} '
                                    f'{e.reason}') from e
            except (http.client.IncompleteRead, OSError, http.client.HTTPException) as e:
                if isinstance(e, http.client.IncompleteRead):
                    received += len(e.partial)
                of = f' of {expected_len}' if expected_len is not None else ''
                raise DownloadError(f'model {name!r}: downloading {url} failed after {received}'
                                    f'{of} bytes: {e!r}') from e
        if expected_len is not None and received != expected_len:
            raise DownloadError(
                f'model {name!r}: incomplete download of {url}: received {received} bytes, '
                f'Content-Length is {expected_len}')
        actual = h.hexdigest()
        if actual != info.sha256:
            raise ChecksumError(
                f'model {name!r}: the file downloaded from {url} ({received} bytes) has SHA-256 '
                f'{actual}, expected {info.sha256} (Metadata[{SHA256_KEY!r}] in '
                f'{info.metafile}); it was not kept')
        os.replace(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def download_checkpoint(name: str, index: Optional[str] = None, hub_dir: Optional[str] = None,
                        timeout: float = 60.0) -> str:
    """Download the weights of model ``name`` once and return the path of the verified file.

    Args:
        name (str): A ``Name`` in the model index.
        index (str, optional): The ``model-index.yml``; see
            :func:`~mmbnn.zoo.index.find_model_index`. Default: None.
        hub_dir (str, optional): The torch hub folder; files go to ``<hub_dir>/checkpoints``.
            Default: None, ``torch.hub.get_dir()``.
        timeout (float): Seconds the connection may stall. Default: 60.

    Raises:
        KeyError: Unknown model (the message gives close names), or no Weights URL.
        ChecksumError: The index is inconsistent, the download or the cached file does not match.
        DownloadError: The transfer failed or was cut short. Nothing is cached in either case.
    """
    info, filename = _checked_info(name, index)
    dst = osp.join(hub_dir or torch.hub.get_dir(), 'checkpoints', filename)
    if not osp.isfile(dst):
        print_log(f'Downloading {name} from {info.weights} to {dst}', logger='current')
        _fetch(info, dst, timeout)
    actual = sha256sum(dst)
    if actual != info.sha256:
        raise ChecksumError(
            f'model {name!r}: the cached file {dst} has SHA-256 {actual}, expected '
            f'{info.sha256} (Metadata[{SHA256_KEY!r}] in {info.metafile}). mmbnn only caches '
            f'verified downloads, so the file was changed or written by something else; delete '
            f'it to download it again')
    return dst


@CheckpointLoader.register_scheme(prefixes=SCHEME)
def load_from_mmbnn(filename: str, map_location=None):
    """mmengine loader for ``mmbnn://<model-name>``: a verified download
    (:func:`download_checkpoint`, rank 0 first in a distributed run), then
    :func:`mmbnn.utils.safe_load` with ``map_location``."""
    name = filename[len(SCHEME):]
    rank, world_size = get_dist_info()
    if rank == 0:
        path = download_checkpoint(name)
    if world_size > 1:
        barrier()
        if rank > 0:
            path = download_checkpoint(name)
    return safe_load(path, map_location=map_location)
