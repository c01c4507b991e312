"""mmbnn's model zoo: the model index and verified downloads behind ``mmbnn://<model-name>``.

Importing this package registers the ``mmbnn://`` scheme with mmengine's ``CheckpointLoader``.
"""
from .download import (SCHEME, ChecksumError, DownloadError, download_checkpoint, hash_prefix,
                       load_from_mmbnn, sha256sum)
from .index import (MODEL_INDEX_ENV, SHA256_KEY, ModelInfo, find_model_index, get_model_info,
                    load_model_index)

__all__ = ['SCHEME', 'ChecksumError', 'DownloadError', 'download_checkpoint', 'hash_prefix',
           'load_from_mmbnn', 'sha256sum', 'MODEL_INDEX_ENV', 'SHA256_KEY', 'ModelInfo',
           'find_model_index', 'get_model_info', 'load_model_index']
