"""Find and read mmbnn's model index (the OpenMMLab ``model-index.yml`` format).

The index is a root ``model-index.yml`` whose ``Import`` lists metafiles (paths relative to the
root file), each with a ``Models`` list::

    # model-index.yml
    Import:
      - configs/groupnet/metafile.yml

    # configs/groupnet/metafile.yml
    Models:
      - Name: groupnet-r18-5b_8xb32_in1k
        Config: configs/groupnet/groupnet-r18-5b_8xb32_in1k.py
        Metadata:
          Weights SHA256: 3f0c9a1e...   # the full SHA-256 (64 hex digits) of the weights file
        Results: [...]
        Weights: groupnet-r18-5b_8xb32_in1k_20240101-3f0c9a1e.pth

``Metadata: Weights SHA256`` (:data:`SHA256_KEY`) is mmbnn's key for the full hash of the file
that ``Weights`` names; OpenMMLab's format has no field for it, and ``Metadata`` is the free-form
mapping every model has (mmbnn reads it; mim and modelindex ignore the extra key). The file name
keeps OpenMMLab's short hash (``name_YYYYMMDD-<first 8+ hex of the sha256>.pth``) as well; the
two must agree.

``Weights`` is a file name (or path) relative to the zoo base URL, :func:`zoo_base_url`:
``$MMBNN_ZOO_URL`` if set (``https://mirror/mmbnn-zoo/``, ``file:///srv/zoo/`` or a plain folder),
else the release folder that mmbnn ships, :data:`RELEASE_DIR` (``mmbnn/zoo/weights/``, in the
source tree and in every install), so a machine without network resolves every published model
and a mirror of that folder serves the same index. An absolute URL in ``Weights`` is used as it
is.

Files are read with ``yaml.safe_load``; the ``modelindex`` package is not needed.
"""
import difflib
import os
import os.path as osp
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import yaml

__all__ = ['MODEL_INDEX_ENV', 'ZOO_URL_ENV', 'RELEASE_DIR', 'SHA256_KEY', 'ModelInfo',
           'find_model_index', 'load_model_index', 'get_model_info', 'zoo_base_url',
           'resolve_weights_url']

#: Environment variable naming a ``model-index.yml`` to use instead of mmbnn's own.
MODEL_INDEX_ENV = 'MMBNN_MODEL_INDEX'
#: Environment variable naming the zoo base URL that relative ``Weights`` are resolved against.
ZOO_URL_ENV = 'MMBNN_ZOO_URL'
#: The release folder of published weights that mmbnn ships (package data of ``mmbnn.zoo``).
RELEASE_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'weights')
#: The key, in a model's ``Metadata``, of the full SHA-256 of its ``Weights`` file.
SHA256_KEY = 'Weights SHA256'

_SHA256_RE = re.compile(r'[0-9a-f]{64}')
_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


@dataclass(frozen=True)
class ModelInfo:
    """One ``Models`` entry of a metafile.

    Attributes:
        name (str): ``Name``.
        weights (str | None): ``Weights``, the URL of the checkpoint.
        sha256 (str | None): ``Metadata['Weights SHA256']``, lower case.
        config (str | None): ``Config``, made absolute against the index's folder.
        metadata (dict): ``Metadata``. results (list): ``Results``.
        metafile (str): The metafile the entry comes from.
    """
    name: str
    weights: Optional[str]
    sha256: Optional[str]
    config: Optional[str]
    metafile: str
    metadata: dict = field(default_factory=dict)
    results: list = field(default_factory=list)

    @property
    def filename(self) -> Optional[str]:
        """The file name of ``Weights`` (None without weights)."""
        if not self.weights:
            return None
        return osp.basename(urllib.parse.urlparse(self.weights).path) or None

    def url(self, base: Optional[str] = None) -> Optional[str]:
        """``Weights`` resolved against ``base`` (default :func:`zoo_base_url`)."""
        return resolve_weights_url(self.weights, base) if self.weights else None


def _as_url(location: str) -> str:
    """A URL for ``location``: URLs as they are, local folders as ``file://`` URLs."""
    if re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://', location):
        return location
    return urllib.parse.urljoin('file:', urllib.request.pathname2url(
        osp.abspath(osp.expanduser(location))))


def zoo_base_url() -> str:
    """The base URL of relative ``Weights``: ``$MMBNN_ZOO_URL`` (a URL or a local folder) if set,
    else the shipped release folder :data:`RELEASE_DIR` as a ``file://`` URL; always ends with
    ``/``."""
    base = os.environ.get(ZOO_URL_ENV) or RELEASE_DIR
    return _as_url(base).rstrip('/') + '/'


def resolve_weights_url(weights: str, base: Optional[str] = None) -> str:
    """``weights`` as an absolute URL: absolute URLs as they are, a relative name or path
    joined to ``base`` (a URL or folder; default :func:`zoo_base_url`).

    Raises:
        ValueError: ``weights`` is an absolute local path (the index must not name files on one
            machine; give it relative to the zoo base).
    """
    if re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://', weights):
        return weights
    if osp.isabs(weights):
        raise ValueError(f'Weights {weights!r} is an absolute path: the model index names files '
                         f'relative to the zoo base URL (${ZOO_URL_ENV}) or by full URL')
    base = zoo_base_url() if base is None else _as_url(base).rstrip('/') + '/'
    return base + urllib.parse.quote(weights.replace(os.sep, '/'))


def find_model_index(path: Optional[str] = None) -> str:
    """The ``model-index.yml`` to read.

    In order: ``path``; the file named by ``$MMBNN_MODEL_INDEX``; the installed package's
    ``mmbnn/.mim/model-index.yml``; the source tree's ``model-index.yml`` (editable installs).

    Raises:
        FileNotFoundError: ``path`` or ``$MMBNN_MODEL_INDEX`` names no file, or none of the
            default places has one (the message lists them).
    """
    for given, what in ((path, 'path'), (os.environ.get(MODEL_INDEX_ENV), MODEL_INDEX_ENV)):
        if given:
            given = osp.abspath(osp.expanduser(given))
            if not osp.isfile(given):
                raise FileNotFoundError(f'model index {given!r} (from {what}) does not exist')
            return given
    candidates = [osp.join(_PACKAGE_DIR, '.mim', 'model-index.yml'),
                  osp.join(osp.dirname(_PACKAGE_DIR), 'model-index.yml')]
    for candidate in candidates:
        if osp.isfile(candidate):
            return candidate
    raise FileNotFoundError(f'mmbnn found no model index: looked in {candidates}; set '
                            f'{MODEL_INDEX_ENV} to a model-index.yml')


def _read_yaml(path: str) -> dict:
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a mapping at the top level, got '
                         f'{type(data).__name__}')
    return data


def _model_info(entry, metafile: str, root: str) -> ModelInfo:
    if not isinstance(entry, dict) or not isinstance(entry.get('Name'), str):
        raise ValueError(f'{metafile}: every Models entry needs a Name, got {entry!r}')
    name = entry['Name']
    metadata = entry.get('Metadata') or {}
    if not isinstance(metadata, dict):
        raise ValueError(f'{metafile}: Metadata of {name!r} must be a mapping')
    sha256 = metadata.get(SHA256_KEY)
    if sha256 is not None:
        sha256 = str(sha256).strip().lower()
        if not _SHA256_RE.fullmatch(sha256):
            raise ValueError(f'{metafile}: Metadata[{SHA256_KEY!r}] of {name!r} must be 64 hex '
                             f'digits, got {metadata.get(SHA256_KEY)!r}')
    config = entry.get('Config')
    if config is not None:
        config = osp.normpath(osp.join(root, config))
    results = entry.get('Results') or []
    return ModelInfo(name=name, weights=entry.get('Weights'), sha256=sha256, config=config,
                     metafile=metafile, metadata=dict(metadata),
                     results=results if isinstance(results, list) else [results])


def load_model_index(path: Optional[str] = None) -> Dict[str, ModelInfo]:
    """Read the model index (see :func:`find_model_index`) into ``{name: ModelInfo}``.

    ``Import`` entries are paths relative to the file that lists them and may nest; a file that
    lists ``Models`` directly is read too. ``Config`` paths are relative to the root index's
    folder, as in OpenMMLab repositories.

    Raises:
        FileNotFoundError: The index or an imported metafile is missing.
        ValueError: A malformed entry, a bad hash, or two models of the same name.
    """
    root_file = find_model_index(path)
    root = osp.dirname(root_file)
    models: Dict[str, ModelInfo] = {}
    seen = set()

    def visit(yml: str):
        yml = osp.normpath(yml)
        if yml in seen:
            return
        seen.add(yml)
        if not osp.isfile(yml):
            raise FileNotFoundError(f'metafile {yml!r} listed in the model index {root_file!r} '
                                    f'does not exist')
        data = _read_yaml(yml)
        for entry in data.get('Models') or []:
            info = _model_info(entry, yml, root)
            if info.name in models:
                raise ValueError(f'model {info.name!r} is defined twice: in '
                                 f'{models[info.name].metafile} and {yml}')
            models[info.name] = info
        for sub in data.get('Import') or []:
            visit(osp.join(osp.dirname(yml), sub))

    visit(root_file)
    return models


def get_model_info(name: str, index: Optional[str] = None) -> ModelInfo:
    """The index entry of model ``name``.

    Raises:
        KeyError: No model of that name (the message gives the closest names).
    """
    models = load_model_index(index)
    if name not in models:
        close: List[str] = difflib.get_close_matches(name, list(models), n=5, cutoff=0.4)
        hint = (f'; did you mean {", ".join(close)}?' if close
                else f'; it has {len(models)} models')
        raise KeyError(f'no model named {name!r} in the model index {find_model_index(index)}'
                       f'{hint}')
    return models[name]
