"""Test (evaluate) a checkpoint with an mmbnn, mmpretrain, mmdet or mmseg config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
                         [--show] [--show-dir DIR] [--wait-time S] [--interval N]
                         [--cfg-options K=V ...] [--launcher {none,pytorch,slurm,mpi}]

CHECKPOINT is a local file or ``mmbnn://MODEL-NAME`` (the model zoo); one that would leave most
of the model uninitialised, or a zoo model trained with another architecture than CONFIG's, is
refused (``mmbnn.CheckpointFitHook``) instead of evaluating random weights. ``--show-dir DIR`` saves
every test image with its predictions (and ground truth) drawn by the toolbox's own
visualization hook and visualizer to ``WORK_DIR/TIMESTAMP/DIR``; ``--show`` shows them in a
window (where there is a display). The config needs ``default_hooks.visualization`` and a
``visualizer``, as the toolboxes' ``default_runtime.py`` give (see
:mod:`mmbnn.apis.visualization`).
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmbnn  # noqa: F401  (registries; safe checkpoint loading; mmbnn:// checkpoints)
from mmbnn.apis import enable_test_visualization, finish_test_visualization
from mmbnn.utils import prepare_checkpoint_hooks, prepare_launcher


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file, or mmbnn://MODEL-NAME')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--show', action='store_true',
                        help='show the predictions in a window (needs a display)')
    parser.add_argument(
        '--show-dir',
        help='save the images with their predictions drawn to WORK_DIR/TIMESTAMP/SHOW_DIR')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each image is shown with --show')
    parser.add_argument('--interval', type=int, default=1,
                        help='draw every N-th test sample (mmpretrain) or batch (mmseg); '
                        'mmdet draws every image')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, as key=value pairs')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.interval != 1 and not (args.show or args.show_dir):
        parser.error('--interval needs --show or --show-dir')
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
    cfg.load_from = args.checkpoint
    cfg.resume = False

    draw = args.show or bool(args.show_dir)
    if draw:
        enable_test_visualization(cfg, show=args.show, show_dir=args.show_dir,
                                  wait_time=args.wait_time, interval=args.interval)

    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), '--out must be a .pkl file'
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, (dict, ConfigDict)):
            evaluators = [evaluators]
        cfg.test_evaluator = list(evaluators) + [dict(type='DumpResults', out_file_path=args.out)]

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    out_dir = finish_test_visualization(runner, args.show_dir) if draw else None
    metrics = runner.test()
    if out_dir is not None:
        print(f'drawn test images: {out_dir}')
    return metrics


if __name__ == '__main__':
    main()
