"""mmbnn's model zoo: the model index, verified downloads behind ``mmbnn://<model-name>``, and
publishing trained models into the release folder that mmbnn ships.

Importing this package registers the ``mmbnn://`` scheme with mmengine's ``CheckpointLoader``.
"""
from .download import (SCHEME, ChecksumError, DownloadError, download_checkpoint, hash_prefix,
                       load_from_mmbnn, sha256sum)
from .architecture import (ArchitectureMismatchError, check_zoo_architecture,
                           zoo_config_hint)
from .index import (MODEL_INDEX_ENV, RELEASE_DIR, SHA256_KEY, ZOO_URL_ENV, ModelInfo,
                    find_model_index, get_model_info, load_model_index, resolve_weights_url,
                    zoo_base_url)

__all__ = ['SCHEME', 'ChecksumError', 'DownloadError', 'download_checkpoint', 'hash_prefix',
           'load_from_mmbnn', 'sha256sum', 'MODEL_INDEX_ENV', 'ZOO_URL_ENV', 'RELEASE_DIR',
           'SHA256_KEY', 'ModelInfo', 'find_model_index', 'get_model_info', 'load_model_index',
           'resolve_weights_url', 'zoo_base_url', 'ArchitectureMismatchError',
           'check_zoo_architecture', 'zoo_config_hint']
