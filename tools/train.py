"""Train a model from an mmbnn, mmpretrain, mmdet or mmseg config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--auto-scale-lr]
                          [--cfg-options K=V ...] [--launcher {none,pytorch,slurm,mpi}]

The default scope (and so the toolbox) comes from the config's ``default_scope``.
``--auto-scale-lr`` scales the learning rate by (GPUs x batch per GPU) / base batch size, as mmdet's
tool does: mmengine's Runner does it when the config's ``auto_scale_lr`` holds ``enable=True`` and
the ``base_batch_size`` the learning rate was set for.

Checkpoints are written under a temporary name and renamed when complete
(``mmbnn.AtomicCheckpointHook`` in place of mmengine's ``CheckpointHook``), so ``--resume`` after a
run killed at any moment continues from its last complete checkpoint; ``load_from`` and
``--resume`` refuse a checkpoint that would leave most of the model uninitialised, and an
``mmbnn://NAME`` trained with another architecture (``mmbnn.CheckpointFitHook``).
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmbnn  # noqa: F401  (registries; safe checkpoint loading)
from mmbnn.utils import prepare_checkpoint_hooks, prepare_launcher


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the real batch size over auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or from the latest one in the work dir if none is given')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, as key=value pairs')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    prepare_launcher(cfg, args.launcher)
    prepare_checkpoint_hooks(cfg)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        if get_device() == 'cpu':
            raise SystemExit('--amp needs an accelerator: mmengine\'s AmpOptimWrapper does not '
                             'run on the CPU')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP is already enabled in the config.')
        else:
            assert optim_wrapper == 'OptimWrapper', \
                f'--amp works with OptimWrapper, not with {optim_wrapper}'
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        # mmdet's check and message; mmpretrain's configs give base_batch_size without `enable`
        if 'auto_scale_lr' in cfg and 'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or "auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your configuration file. '
                               'Add e.g. auto_scale_lr = dict(enable=False, base_batch_size=16) '
                               'with the total batch size the learning rate is meant for.')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
