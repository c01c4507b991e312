"""What the ``tools/`` scripts do to a config before building the Runner."""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

__all__ = ['prepare_launcher', 'prepare_checkpoint_hooks']


def prepare_launcher(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher`` and, for distributed runs without a GPU, make mmengine use gloo.

    With a GPU nothing else changes: mmengine initialises the process group from
    ``env_cfg.dist_cfg`` (nccl by default). On the CPU, mmengine 0.10.7 would call
    ``torch.cuda.set_device`` and wrap the model with ``device_ids=[LOCAL_RANK]``; both fail without
    a GPU. So here the process group is initialised with gloo before the Runner is built (the
    Runner then leaves it alone), and DDP gets ``device_ids=None``, as torch wants for CPU modules.

    Args:
        cfg (Config): The config, changed in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ValueError(f"On the CPU mmbnn runs distributed jobs with launcher='pytorch' "
                         f"(torchrun, tools/dist_train.sh); got launcher={launcher!r}")
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


#: mmengine's checkpoint hook as configs name it; :func:`prepare_checkpoint_hooks` replaces it.
_PLAIN_CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook')


def prepare_checkpoint_hooks(cfg: Config) -> None:
    """Make the Runner save and load checkpoints as mmbnn's tools do (in place):

    - ``default_hooks.checkpoint`` of type mmengine ``CheckpointHook`` becomes
      ``mmbnn.AtomicCheckpointHook`` (same arguments): every checkpoint is written under a
      temporary name and renamed when complete, ``last_checkpoint`` too, and old checkpoints are
      removed only after the new one is in place, so a run killed while saving resumes from its
      last complete checkpoint. A hook of another type (the user's own) is left alone.
    - ``mmbnn.CheckpointFitHook`` is added to ``custom_hooks`` (once): ``load_from``, ``--resume``
      and ``tools/test.py CONFIG CHECKPOINT`` refuse a checkpoint that would leave most of the
      model uninitialised, and an ``mmbnn://NAME`` trained with another architecture.

    Args:
        cfg (Config): The config, changed in place.
    """
    hooks = cfg.get('default_hooks') or {}
    checkpoint = hooks.get('checkpoint')
    if checkpoint is not None and checkpoint.get('type') in _PLAIN_CHECKPOINT_HOOKS:
        checkpoint['type'] = 'mmbnn.AtomicCheckpointHook'
    custom = list(cfg.get('custom_hooks') or [])
    if not any(str(h.get('type', '')).split('.')[-1] == 'CheckpointFitHook' for h in custom):
        custom.append(dict(type='mmbnn.CheckpointFitHook'))
    cfg.custom_hooks = custom
