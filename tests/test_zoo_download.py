"""mmbnn://<model-name>: index look-up, the zoo base URL and verified downloads, from a local
release folder (file://) and from a local HTTP mirror of it (http://).

Every failure (tampered file, wrong hash in the index, an index entry whose file is missing, an
unreachable mirror, a cut transfer) must raise an error that names the model and the file, and
leave nothing in the cache (no file, no temporary file)."""
import hashlib
import http.server
import io
import os
import os.path as osp
import shlex
import socket
import threading
from collections import Counter

import pytest
import torch
import yaml
from mmengine.model import BaseModule
from mmengine.runner import CheckpointLoader, load_checkpoint
from torch import nn

import mmbnn.zoo  # noqa: F401  (registers the mmbnn:// scheme)
from mmbnn.zoo import (MODEL_INDEX_ENV, RELEASE_DIR, SHA256_KEY, ZOO_URL_ENV, ChecksumError,
                       DownloadError, download_checkpoint, find_model_index, get_model_info,
                       hash_prefix, load_from_mmbnn, resolve_weights_url, zoo_base_url)


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
TAMPERED = GOOD[:100] + bytes([GOOD[100] ^ 0xFF]) + GOOD[101:]
OTHER_SHA = hashlib.sha256(b'another file').hexdigest()

# name -> (file name in the index, full hash in the index, bytes in the release folder or None)
MODELS = {
    'tiny-good': (f'tiny_20240101-{SHA[:8]}.pth', SHA, GOOD),
    'tiny-tampered': (f'tampered_20240101-{SHA[:8]}.pth', SHA, TAMPERED),
    'tiny-wrong-hash': (f'wronghash_20240101-{OTHER_SHA[:8]}.pth', OTHER_SHA, GOOD),
    'tiny-missing': (f'missing_20240101-{SHA[:8]}.pth', SHA, None),
    'tiny-prefix': ('prefix_20240101-deadbeef.pth', SHA, GOOD),
    'tiny-nohash': (f'nohash_20240101-{SHA[:8]}.pth', None, GOOD),
    'tiny-truncated': (f'trunc_20240101-{SHA[:8]}.pth', SHA, GOOD),
}


class Server:
    """A local HTTP mirror of a folder that counts requests per path. Files named ``trunc_*``
    are served cut in half with the full ``Content-Length``; the server stops answering after
    ``max_requests`` (a test that loops on downloads fails instead of hanging)."""

    def __init__(self, folder, max_requests=20):
        self.folder, self.requests, self.max_requests = folder, Counter(), max_requests
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.0'
            timeout = 10

            def do_GET(self):
                outer.requests[self.path] += 1
                path = osp.join(outer.folder, self.path.rsplit('/', 1)[-1])
                if sum(outer.requests.values()) > outer.max_requests or \
                        not self.path.startswith('/zoo/') or not osp.isfile(path):
                    self.send_error(404)
                    return
                with open(path, 'rb') as f:
                    body = f.read()
                self.send_response(200)
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if 'trunc_' in path else body)
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


def write_index(root, models):
    """A root model-index.yml importing one metafile; ``models``: name -> (weights, sha)."""
    os.makedirs(root / 'configs' / 'tiny', exist_ok=True)
    entries = []
    for name, (weights, sha) in models.items():
        meta = {'Training Data': 'none'}
        if sha is not None:
            meta[SHA256_KEY] = sha
        entries.append(dict(Name=name, Config='configs/tiny/tiny.py', Metadata=meta,
                            Results=[dict(Task='Image Classification', Dataset='none',
                                          Metrics={'Top 1 Accuracy': 0.0})],
                            Weights=weights))
    with open(root / 'configs' / 'tiny' / 'metafile.yml', 'w') as f:
        yaml.safe_dump(dict(Models=entries), f, sort_keys=False)
    with open(root / 'model-index.yml', 'w') as f:
        yaml.safe_dump(dict(Import=['configs/tiny/metafile.yml']), f)
    return str(root / 'model-index.yml')


@pytest.fixture(params=['file', 'http'])
def zoo(request, tmp_path, monkeypatch):
    """A release folder with the files of MODELS, an index naming them relative to the zoo
    base, $MMBNN_ZOO_URL at the folder (file) or at an HTTP mirror of it, a temporary hub."""
    release = tmp_path / 'release'
    release.mkdir()
    for weights, _, body in MODELS.values():
        if body is not None:
            (release / weights).write_bytes(body)
    index = write_index(tmp_path / 'index', {k: v[:2] for k, v in MODELS.items()})
    monkeypatch.setenv(MODEL_INDEX_ENV, index)
    server = None
    if request.param == 'http':
        server = Server(str(release))
        monkeypatch.setenv(ZOO_URL_ENV, server.url + '/zoo/')
    else:
        monkeypatch.setenv(ZOO_URL_ENV, str(release))
    old_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield dict(kind=request.param, server=server, index=index, release=release,
               cache=tmp_path / 'hub' / 'checkpoints')
    torch.hub.set_dir(old_hub)
    if server is not None:
        server.close()


def cached(zoo):
    """Everything in the cache folder (temporary files included)."""
    folder = zoo['cache']
    return sorted(os.listdir(folder)) if osp.isdir(folder) else []


def requests(zoo, name=None):
    if zoo['server'] is None:
        return None
    if name is None:
        return sum(zoo['server'].requests.values())
    return zoo['server'].requests[f'/zoo/{MODELS[name][0]}']


def assert_refused(zoo, name, error=DownloadError, match=None):
    """Loading ``name`` raises ``error`` naming the model and its file, and caches nothing."""
    with pytest.raises(error, match=match) as info:
        CheckpointLoader.load_checkpoint(f'mmbnn://{name}')
    msg = str(info.value)
    assert repr(name) in msg and MODELS[name][0] in msg, msg
    assert cached(zoo) == []
    return info.value


def test_scheme_is_registered():
    assert CheckpointLoader._get_checkpoint_loader('mmbnn://anything') is load_from_mmbnn
    # the plain http(s) and local loaders are untouched
    assert CheckpointLoader._get_checkpoint_loader('https://x/y.pth') is not load_from_mmbnn


def test_hash_prefix():
    assert hash_prefix('resnet18_8xb32_in1k_20210831-fbbb1da6.pth') == 'fbbb1da6'
    assert hash_prefix('x-0123456789abcdef.pth') == '0123456789abcdef'
    assert hash_prefix('resnet18.pth') is None
    assert hash_prefix('x-XYZ12345.pth') is None


def test_weights_urls(tmp_path, monkeypatch):
    monkeypatch.delenv(ZOO_URL_ENV, raising=False)
    assert zoo_base_url() == 'file://' + RELEASE_DIR + '/'
    assert resolve_weights_url('a_20240101-12345678.pth') == \
        'file://' + osp.join(RELEASE_DIR, 'a_20240101-12345678.pth')
    assert resolve_weights_url('https://x.org/a.pth') == 'https://x.org/a.pth'
    assert resolve_weights_url('sub/a b.pth', 'https://m.org/zoo') == \
        'https://m.org/zoo/sub/a%20b.pth'
    monkeypatch.setenv(ZOO_URL_ENV, str(tmp_path))
    assert zoo_base_url() == f'file://{tmp_path}/'
    monkeypatch.setenv(ZOO_URL_ENV, 'http://mirror.local/mmbnn/')
    assert resolve_weights_url('a.pth') == 'http://mirror.local/mmbnn/a.pth'
    with pytest.raises(ValueError, match='absolute path'):
        resolve_weights_url('/srv/a.pth')


def test_find_model_index(zoo, tmp_path, monkeypatch):
    assert find_model_index() == zoo['index']
    with pytest.raises(FileNotFoundError, match='does not exist'):
        find_model_index(str(tmp_path / 'missing.yml'))
    info = get_model_info('tiny-good')
    assert info.sha256 == SHA and info.filename == MODELS['tiny-good'][0]
    assert info.config == osp.join(str(tmp_path / 'index'), 'configs', 'tiny', 'tiny.py')
    monkeypatch.delenv(MODEL_INDEX_ENV)
    assert get_model_info('tiny-good', index=zoo['index']).sha256 == SHA


def test_good_file_is_fetched_once_and_verified(zoo):
    ckpt = CheckpointLoader.load_checkpoint('mmbnn://tiny-good', map_location='cpu')
    assert ckpt['meta']['note'] == 'zoo test'
    assert cached(zoo) == [MODELS['tiny-good'][0]]  # no temporary file left behind
    assert (zoo['cache'] / MODELS['tiny-good'][0]).read_bytes() == GOOD
    if zoo['kind'] == 'http':
        assert requests(zoo, 'tiny-good') == 1
    # the second load uses the cache (hashed again) and makes no request
    again = CheckpointLoader.load_checkpoint('mmbnn://tiny-good', map_location='cpu')
    if zoo['kind'] == 'http':
        assert requests(zoo) == 1
    for k, v in ckpt['state_dict'].items():
        assert torch.equal(v, again['state_dict'][k])


def test_tampered_file_is_refused(zoo):
    msg = str(assert_refused(zoo, 'tiny-tampered', ChecksumError))
    assert SHA in msg and hashlib.sha256(TAMPERED).hexdigest() in msg
    if zoo['kind'] == 'http':  # not cached: the next attempt fetches again, and fails again
        assert_refused(zoo, 'tiny-tampered', ChecksumError)
        assert requests(zoo, 'tiny-tampered') == 2


def test_wrong_hash_in_the_index_is_refused(zoo):
    msg = str(assert_refused(zoo, 'tiny-wrong-hash', ChecksumError))
    assert OTHER_SHA in msg and SHA in msg  # expected and actual


def test_index_entry_without_its_file(zoo):
    error = assert_refused(zoo, 'tiny-missing', DownloadError)
    assert not isinstance(error, ChecksumError)
    assert ('HTTP 404' if zoo['kind'] == 'http' else 'no such file') in str(error)


def test_file_name_hash_disagrees_with_metafile(zoo):
    assert_refused(zoo, 'tiny-prefix', ChecksumError, match='deadbeef')
    assert requests(zoo) in (0, None)  # refused before any transfer


def test_missing_full_hash_is_refused(zoo):
    with pytest.raises(ChecksumError, match=SHA256_KEY):
        download_checkpoint('tiny-nohash')
    assert requests(zoo) in (0, None) and cached(zoo) == []


@pytest.mark.parametrize('zoo', ['http'], indirect=True)
def test_cut_transfer_is_refused(zoo):
    assert_refused(zoo, 'tiny-truncated', DownloadError)
    assert requests(zoo, 'tiny-truncated') == 1


@pytest.mark.parametrize('zoo', ['http'], indirect=True)
def test_unreachable_mirror(zoo, monkeypatch):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    monkeypatch.setenv(ZOO_URL_ENV, f'http://127.0.0.1:{port}/zoo/')
    msg = str(assert_refused(zoo, 'tiny-good', DownloadError, match='cannot reach'))
    assert f'127.0.0.1:{port}' in msg


def damage(path):
    with open(path, 'r+b') as f:
        f.seek(50)
        f.write(b'\x00\x01\x02')


@pytest.fixture
def loads(monkeypatch):
    """The SHA-256 of every file that the mmbnn:// loader hands to torch.load."""
    import mmbnn.zoo.download as download
    seen, real = [], download.safe_load

    def spy(path, **kwargs):
        with open(path, 'rb') as f:
            seen.append(hashlib.sha256(f.read()).hexdigest())
        return real(path, **kwargs)

    monkeypatch.setattr(download, 'safe_load', spy)
    return seen


def test_damaged_cache_file_is_fetched_again_not_loaded(zoo, loads):
    path = download_checkpoint('tiny-good')
    damage(path)
    ckpt = CheckpointLoader.load_checkpoint('mmbnn://tiny-good')
    assert loads == [SHA]  # only the verified bytes reached torch.load
    assert ckpt['meta']['note'] == 'zoo test'
    assert cached(zoo) == [MODELS['tiny-good'][0]]  # replaced in place, no temporary file left
    assert (zoo['cache'] / MODELS['tiny-good'][0]).read_bytes() == GOOD
    if zoo['kind'] == 'http':
        assert requests(zoo, 'tiny-good') == 2  # the first download and one more, not a loop


def test_damaged_cache_file_without_its_source_is_refused(zoo, loads):
    path = download_checkpoint('tiny-good')
    damage(path)
    damaged = open(path, 'rb').read()
    os.remove(zoo['release'] / MODELS['tiny-good'][0])  # the source is gone (404 over http)
    with pytest.raises(ChecksumError) as info:
        CheckpointLoader.load_checkpoint('mmbnn://tiny-good')
    msg = str(info.value)
    assert path in msg and f'rm {shlex.quote(path)}' in msg and 'not loaded' in msg, msg
    assert loads == []  # nothing was loaded
    assert open(path, 'rb').read() == damaged and cached(zoo) == [MODELS['tiny-good'][0]]
    if zoo['kind'] == 'http':
        assert requests(zoo, 'tiny-good') == 2
    # doing what the message says, once the source is back, loads the right file
    os.remove(path)
    (zoo['release'] / MODELS['tiny-good'][0]).write_bytes(GOOD)
    assert CheckpointLoader.load_checkpoint('mmbnn://tiny-good')['meta']['note'] == 'zoo test'
    assert loads == [SHA]


def test_download_to_a_folder_shows_progress(zoo, tmp_path, capfd):
    dest = tmp_path / 'dest'
    path = download_checkpoint('tiny-good', dest=str(dest), progress=True)
    assert path == str(dest / MODELS['tiny-good'][0]) and sorted(os.listdir(dest)) == [
        MODELS['tiny-good'][0]]
    assert cached(zoo) == []
    assert '100%' in capfd.readouterr().err  # torch.hub's progress bar


def test_map_location_is_honoured(zoo):
    calls = []

    def to_cpu(storage, location):
        calls.append(location)
        return storage

    ckpt = load_from_mmbnn('mmbnn://tiny-good', map_location=to_cpu)
    assert calls and all(loc == 'cpu' for loc in calls)
    assert ckpt['state_dict']['fc.weight'].shape == (3, 4)


def test_load_checkpoint_and_pretrained_init(zoo):
    expected = torch.load(io.BytesIO(GOOD), weights_only=True)['state_dict']
    torch.manual_seed(1)
    model = Tiny()
    assert not torch.equal(model.fc.weight, expected['fc.weight'])
    load_checkpoint(model, 'mmbnn://tiny-good', map_location='cpu', strict=True)
    assert torch.equal(model.fc.weight, expected['fc.weight'])
    torch.manual_seed(2)
    model = Tiny(init_cfg=dict(type='Pretrained', checkpoint='mmbnn://tiny-good'))
    model.init_weights()
    assert torch.equal(model.fc.bias, expected['fc.bias'])


def test_unknown_name(zoo):
    with pytest.raises(KeyError, match='tiny-good'):  # close names are listed
        CheckpointLoader.load_checkpoint('mmbnn://tiny-godo')
    assert requests(zoo) in (0, None)


def test_bad_index_entries(tmp_path):
    index = write_index(tmp_path, {'a': ('a-12345678.pth', 'abc')})
    with pytest.raises(ValueError, match='64 hex'):
        get_model_info('a', index=index)
    index = write_index(tmp_path, {'a': ('a-12345678.pth', SHA)})
    with open(tmp_path / 'configs' / 'tiny' / 'metafile.yml') as f:
        data = yaml.safe_load(f)
    data['Models'] *= 2
    with open(tmp_path / 'configs' / 'tiny' / 'metafile.yml', 'w') as f:
        yaml.safe_dump(data, f)
    with pytest.raises(ValueError, match='defined twice'):
        get_model_info('a', index=index)
