"""mmbnn://<model-name>: model index look-up and verified downloads, against a local HTTP server."""
import hashlib
import http.server
import io
import os
import os.path as osp
import threading
from collections import Counter

import pytest
import torch
import yaml
from mmengine.model import BaseModule
from mmengine.runner import CheckpointLoader, load_checkpoint
from torch import nn

import mmbnn.zoo  # noqa: F401  (registers the mmbnn:// scheme)
from mmbnn.zoo import (MODEL_INDEX_ENV, SHA256_KEY, ChecksumError, DownloadError,
                       download_checkpoint, find_model_index, get_model_info, hash_prefix,
                       load_from_mmbnn)


class Tiny(BaseModule):

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.fc = nn.Linear(4, 3)


def checkpoint_bytes():
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(dict(meta=dict(note='zoo test'), state_dict=Tiny().state_dict()), buf)
    return buf.getvalue()


GOOD = checkpoint_bytes()
SHA = hashlib.sha256(GOOD).hexdigest()
CORRUPT = GOOD[:100] + bytes([GOOD[100] ^ 0xFF]) + GOOD[101:]


class Server:
    """A local HTTP server that serves fixed bytes per path and counts the requests.

    Each route is ``path -> (bytes, mode)``; mode ``'ok'`` sends them, ``'truncate'`` announces
    1000 bytes more than it sends, then closes the connection. The server stops answering after
    ``max_requests`` (a test that loops on downloads fails instead of hanging)."""

    def __init__(self, routes, max_requests=20):
        self.routes, self.requests, self.max_requests = routes, Counter(), max_requests
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.0'
            timeout = 10

            def do_GET(self):
                outer.requests[self.path] += 1
                if sum(outer.requests.values()) > outer.max_requests or \
                        self.path not in outer.routes:
                    self.send_error(404)
                    return
                body, mode = outer.routes[self.path]
                self.send_response(200)
                self.send_header('Content-Type', 'application/octet-stream')
                extra = 1000 if mode == 'truncate' else 0
                self.send_header('Content-Length', str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


ROUTES = {
    f'/good/tiny_20240101-{SHA[:8]}.pth': (GOOD, 'ok'),
    f'/corrupt/corrupt_20240101-{SHA[:8]}.pth': (CORRUPT, 'ok'),
    f'/trunc/trunc_20240101-{SHA[:8]}.pth': (GOOD, 'truncate'),
    f'/prefix/prefix_20240101-deadbeef.pth': (GOOD, 'ok'),
    f'/nohash/nohash_20240101-{SHA[:8]}.pth': (GOOD, 'ok'),
}


@pytest.fixture
def server():
    s = Server(dict(ROUTES))
    yield s
    s.close()


def write_index(root, url, models):
    """A root model-index.yml importing one metafile with ``models`` ((name, path, sha256))."""
    os.makedirs(root / 'configs' / 'tiny', exist_ok=True)
    entries = []
    for name, path, sha in models:
        meta = {'Training Data': 'none'}
        if sha is not None:
            meta[SHA256_KEY] = sha
        entries.append(dict(Name=name, Config='configs/tiny/tiny.py', Metadata=meta,
                            Results=[dict(Task='Image Classification', Dataset='none',
                                          Metrics={'Top 1 Accuracy': 0.0})],
                            Weights=url + path))
    with open(root / 'configs' / 'tiny' / 'metafile.yml', 'w') as f:
        yaml.safe_dump(dict(Models=entries), f, sort_keys=False)
    with open(root / 'model-index.yml', 'w') as f:
        yaml.safe_dump(dict(Import=['configs/tiny/metafile.yml']), f)
    return str(root / 'model-index.yml')


@pytest.fixture
def zoo(tmp_path, server, monkeypatch):
    """An index of the server's files in $MMBNN_MODEL_INDEX and a temporary torch hub dir."""
    paths = {name: path for name, path in zip(
        ('tiny-good', 'tiny-corrupt', 'tiny-truncated', 'tiny-prefix'), ROUTES)}
    models = [(name, path, SHA) for name, path in paths.items()]
    models.append(('tiny-nohash', list(ROUTES)[4], None))
    index = write_index(tmp_path / 'index', server.url, models)
    monkeypatch.setenv(MODEL_INDEX_ENV, index)
    old_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield dict(server=server, paths=paths, index=index,
               cache=tmp_path / 'hub' / 'checkpoints')
    torch.hub.set_dir(old_hub)


def cached(zoo):
    folder = zoo['cache']
    return sorted(os.listdir(folder)) if osp.isdir(folder) else []


def test_scheme_is_registered():
    assert CheckpointLoader._get_checkpoint_loader('mmbnn://anything') is load_from_mmbnn
    # the plain http(s) and local loaders are untouched
    assert CheckpointLoader._get_checkpoint_loader('https://x/y.pth') is not load_from_mmbnn


def test_hash_prefix():
    assert hash_prefix('resnet18_8xb32_in1k_20210831-fbbb1da6.pth') == 'fbbb1da6'
    assert hash_prefix('x-0123456789abcdef.pth') == '0123456789abcdef'
    assert hash_prefix('resnet18.pth') is None
    assert hash_prefix('x-XYZ12345.pth') is None


def test_find_model_index(zoo, tmp_path, monkeypatch):
    assert find_model_index() == zoo['index']
    assert find_model_index(zoo['index']) == zoo['index']
    with pytest.raises(FileNotFoundError, match='does not exist'):
        find_model_index(str(tmp_path / 'missing.yml'))
    info = get_model_info('tiny-good')
    assert info.sha256 == SHA and info.weights.endswith(f'-{SHA[:8]}.pth')
    assert info.config == osp.join(str(tmp_path / 'index'), 'configs', 'tiny', 'tiny.py')
    assert info.metadata['Training Data'] == 'none'
    monkeypatch.delenv(MODEL_INDEX_ENV)
    # an explicit index path works without the environment variable
    assert get_model_info('tiny-good', index=zoo['index']).sha256 == SHA


def test_good_file_downloads_once(zoo):
    server, path = zoo['server'], zoo['paths']['tiny-good']
    ckpt = CheckpointLoader.load_checkpoint('mmbnn://tiny-good', map_location='cpu')
    assert ckpt['meta']['note'] == 'zoo test'
    assert server.requests[path] == 1
    assert cached(zoo) == [path.split('/')[-1]]  # no temporary file left behind
    with open(zoo['cache'] / path.split('/')[-1], 'rb') as f:
        assert f.read() == GOOD
    # the second load uses the cache (verified again) and makes no request
    again = CheckpointLoader.load_checkpoint('mmbnn://tiny-good', map_location='cpu')
    assert server.requests[path] == 1
    assert sum(zoo['server'].requests.values()) == 1
    for k, v in ckpt['state_dict'].items():
        assert torch.equal(v, again['state_dict'][k])


def test_map_location_is_honoured(zoo):
    calls = []

    def to_cpu(storage, location):
        calls.append(location)
        return storage

    ckpt = load_from_mmbnn('mmbnn://tiny-good', map_location=to_cpu)
    assert calls and all(loc == 'cpu' for loc in calls)
    assert ckpt['state_dict']['fc.weight'].shape == (3, 4)


def test_load_checkpoint_through_mmengine(zoo):
    torch.manual_seed(1)
    model = Tiny()
    expected = torch.load(io.BytesIO(GOOD), weights_only=True)['state_dict']
    assert not torch.equal(model.fc.weight, expected['fc.weight'])
    load_checkpoint(model, 'mmbnn://tiny-good', map_location='cpu', strict=True)
    assert torch.equal(model.fc.weight, expected['fc.weight'])
    assert torch.equal(model.fc.bias, expected['fc.bias'])


def test_pretrained_init_cfg(zoo):
    torch.manual_seed(2)
    model = Tiny(init_cfg=dict(type='Pretrained', checkpoint='mmbnn://tiny-good'))
    model.init_weights()
    expected = torch.load(io.BytesIO(GOOD), weights_only=True)['state_dict']
    assert torch.equal(model.fc.weight, expected['fc.weight'])


def test_corrupted_file_is_refused_and_not_cached(zoo):
    with pytest.raises(ChecksumError) as info:
        download_checkpoint('tiny-corrupt')
    msg = str(info.value)
    assert 'tiny-corrupt' in msg and zoo['paths']['tiny-corrupt'] in msg
    assert SHA in msg and hashlib.sha256(CORRUPT).hexdigest() in msg
    assert cached(zoo) == []
    # not cached: a second attempt downloads again (and fails again)
    with pytest.raises(ChecksumError):
        CheckpointLoader.load_checkpoint('mmbnn://tiny-corrupt')
    assert zoo['server'].requests[zoo['paths']['tiny-corrupt']] == 2
    assert cached(zoo) == []


def test_truncated_transfer_is_refused_and_not_cached(zoo):
    with pytest.raises(DownloadError) as info:
        download_checkpoint('tiny-truncated')
    assert not isinstance(info.value, ChecksumError)
    msg = str(info.value)
    assert 'tiny-truncated' in msg and zoo['paths']['tiny-truncated'] in msg
    assert str(len(GOOD) + 1000) in msg and str(len(GOOD)) in msg  # received vs Content-Length
    assert cached(zoo) == []


def test_unknown_name(zoo):
    with pytest.raises(KeyError, match='tiny-good'):  # close names are listed
        CheckpointLoader.load_checkpoint('mmbnn://tiny-godo')
    assert sum(zoo['server'].requests.values()) == 0


def test_file_name_hash_disagrees_with_metafile(zoo):
    with pytest.raises(ChecksumError, match='deadbeef') as info:
        download_checkpoint('tiny-prefix')
    assert SHA in str(info.value)
    assert sum(zoo['server'].requests.values()) == 0  # refused before any download
    assert cached(zoo) == []


def test_missing_full_hash_is_refused(zoo):
    with pytest.raises(ChecksumError, match=SHA256_KEY):
        download_checkpoint('tiny-nohash')
    assert sum(zoo['server'].requests.values()) == 0


def test_corrupted_cache_file_is_refused(zoo):
    download_checkpoint('tiny-good')
    name = zoo['paths']['tiny-good'].split('/')[-1]
    with open(zoo['cache'] / name, 'r+b') as f:
        f.seek(50)
        f.write(b'\x00\x01\x02')
    with pytest.raises(ChecksumError, match='delete it'):
        CheckpointLoader.load_checkpoint('mmbnn://tiny-good')
    assert zoo['server'].requests[zoo['paths']['tiny-good']] == 1
    os.remove(zoo['cache'] / name)  # as the message says: the next load downloads again
    assert download_checkpoint('tiny-good') == str(zoo['cache'] / name)
    assert zoo['server'].requests[zoo['paths']['tiny-good']] == 2


def test_http_error(zoo, server):
    del server.routes[zoo['paths']['tiny-good']]
    with pytest.raises(DownloadError, match='404'):
        download_checkpoint('tiny-good')
    assert cached(zoo) == []


def test_bad_index_entries(tmp_path):
    index = write_index(tmp_path, 'http://127.0.0.1:9', [('a', '/a-12345678.pth', 'abc')])
    with pytest.raises(ValueError, match='64 hex'):
        get_model_info('a', index=index)
    index = write_index(tmp_path, 'http://127.0.0.1:9', [('a', '/a-12345678.pth', SHA),
                                                         ('a', '/b-12345678.pth', SHA)])
    with pytest.raises(ValueError, match='defined twice'):
        get_model_info('a', index=index)
