"""Run a tool (``python kill_during_save.py TOOL ARGS...``) and kill it with SIGKILL in the middle
of writing a file whose name starts with ``$MMBNN_TEST_KILL_ON``: half of the bytes are written and
flushed to disk, then the process receives ``kill -9``. This is where a kill that lands while a
checkpoint is being saved hurts most, placed exactly instead of by timing.

mmengine writes checkpoints (and every other file of its local back end) through
``LocalBackend.put``; only that method is wrapped, and only for the named file.
"""
import os
import os.path as osp
import runpy
import signal
import sys

from mmengine.fileio.backends.local_backend import LocalBackend

TARGET = os.environ['MMBNN_TEST_KILL_ON']
_put = LocalBackend.put


def put_then_die(self, obj, filepath):
    if not osp.basename(str(filepath)).startswith(TARGET):
        return _put(self, obj, filepath)
    with open(filepath, 'wb') as f:
        f.write(obj[:len(obj) // 2])
        f.flush()
        os.fsync(f.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


LocalBackend.put = put_then_die
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
