"""Does Binary Parallel Atrous Convolution help? Group-Net with and without BPAC, both with
Group-Net's two-stage recipe, against the full-precision DeepLabV3 at equal total iterations.

    python tools/analysis/bench_bpac_shapes.py [--work-dir work_dirs/bench_bpac_shapes]
        [--data-root DIR] [--num-train 600] [--num-val 500] [--size 96]
        [--stage-iters I1 I2] [--seeds 0 1 2] [--models fp groupnet groupnet-bpac]
        [--threads 1] [--cfg-options K=V ...] [--binary-cfg-options K=V ...] [--json FILE]
        [--load-json FILE ...]

The models (ResNet-18 of width 8, output stride 8, a DeepLabV3 head; same data and batch):

- ``groupnet-bpac-s1`` / ``groupnet-bpac``: ``configs/quickstart/
  deeplabv3_groupnet-r18_stage1-tanh_shapes.py`` (stage 1: the K=5 model with tanh and real
  weights, I1 iterations) and ``configs/quickstart/deeplabv3_groupnet-r18_shapes.py`` (stage 2:
  binary, loading stage 1's final checkpoint, I2 iterations): Group-Net (K=5 bases per group),
  BPAC (one dilation per base in stages 3 and 4), binary ASPP head.
- ``groupnet-s1`` / ``groupnet``: the same without BPAC (``base_dilations=None``: every base of
  stage 3 / 4 uses the stage's dilation, 2 / 4), both stages.
- ``fp``: the full-precision reference, ``configs/quickstart/deeplabv3_r18_shapes.py``: mmseg's
  ResNetV1c-18 of the same width, strides and dilations, and mmseg's ASPPHead, same rates,
  trained I1 + I2 iterations with stage 1's optimizer (Adam 5e-3, poly).
- ``groupnet-bpac-scratch`` (ablation, not run by default): the binary BPAC model from random
  weights for I1 + I2 iterations, Adam 5e-3 (no stage 1).

The data (``make_shapes_seg.py``: 600 train / 500 val images of 96x96 by default) is written
into the data root when it is missing. Each run is validated once, after its last iteration
(mmseg's ``IoUMetric``: mIoU, aAcc); stage-2 runs also before fine-tuning (the binarized stage-1
model, BN statistics re-estimated: the "stage-2 start" column). Every run keeps its final
checkpoint at WORK_DIR/KEY/seedS/final.pth and the results go to WORK_DIR/results.json unless
``--json`` names another file (harness and JSON format: :mod:`mmbnn.analysis.experiment`;
two-stage plan and checks: ``two_stage.py``). After the table: every run's check (finite mIoU,
no non-finite loss, stage 2 at or above its start) and the ratios to full precision; the goal
is Group-Net + BPAC at >= 0.9 x FP. ``--threads 1`` (the default): on a CPU shared with other
jobs one thread per process is several times faster than more.
"""
import os
import os.path as osp
import statistics
import subprocess
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from two_stage import START_PREFIX, Plan, check_runs, run_plan  # noqa: E402

from mmbnn.analysis.experiment import Experiment, Row  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GOAL = 0.9
STAGE1 = 'quickstart/deeplabv3_groupnet-r18_stage1-tanh_shapes.py'
STAGE2 = 'quickstart/deeplabv3_groupnet-r18_shapes.py'
NO_BPAC = {'model.backbone.base_dilations': None}

EXPERIMENT = Experiment(
    title='synthetic shapes (segmentation)',
    metric='mIoU',
    metric_name='mIoU',
    evaluate='val',
    extra_metrics=('aAcc', (START_PREFIX + 'mIoU', 'stage-2 start')),
    rows=[
        Row('fp', 'quickstart/deeplabv3_r18_shapes.py', 'DeepLabV3, ResNetV1c-18 (full precision)'),
        Row('groupnet-s1', STAGE1, 'Group-Net DeepLabV3 (K=5), no BPAC, stage 1 (tanh)', NO_BPAC),
        Row('groupnet', STAGE2, 'Group-Net DeepLabV3 (K=5), no BPAC, stage 2', NO_BPAC),
        Row('groupnet-bpac-s1', STAGE1, 'Group-Net DeepLabV3 (K=5) + BPAC, stage 1 (tanh)'),
        Row('groupnet-bpac', STAGE2, 'Group-Net DeepLabV3 (K=5) + BPAC, stage 2'),
        Row('groupnet-bpac-scratch', STAGE2, 'Group-Net DeepLabV3 (K=5) + BPAC, from scratch',
            {'load_from': None, 'optim_wrapper.optimizer.lr': 5e-3}),
    ])
STAGE1_OF = {'groupnet': 'groupnet-s1', 'groupnet-bpac': 'groupnet-bpac-s1'}
MAIN = ['fp', 'groupnet', 'groupnet-bpac']


def parse_args(argv=None):
    parser = EXPERIMENT.argument_parser(description=__doc__.split('\n\n')[0])
    parser.set_defaults(work_dir='work_dirs/bench_bpac_shapes', models=MAIN)
    parser.add_argument('--data-root', default=None,
                        help='shapes dataset (default: WORK_DIR/data; generated if missing)')
    parser.add_argument('--num-train', type=int, default=600)
    parser.add_argument('--num-val', type=int, default=500)
    parser.add_argument('--size', type=int, default=96)
    parser.add_argument('--stage-iters', type=int, nargs=2, metavar=('I1', 'I2'), default=None,
                        help='iterations of stage 1 and stage 2; the other rows train I1 + I2 '
                        '(default: the quick-start configs\')')
    parser.add_argument('--binary-cfg-options', nargs='+', action=DictAction, default={},
                        metavar='K=V', help='overrides applied to the Group-Net models only')
    args = EXPERIMENT.parse_args(argv, parser)
    if args.epochs is not None or args.iters is not None:
        parser.error('give the training length with --stage-iters I1 I2 (the full-precision '
                     'and from-scratch rows train I1 + I2)')
    if args.stage_iters is None:
        from mmengine.config import Config
        from mmbnn.utils import config_path
        cfg = Config.fromfile(config_path(STAGE2))
        args.stage_iters = [cfg.stage1_iters, cfg.max_iters]
    if min(args.stage_iters) < 1:
        parser.error('--stage-iters must be >= 1')
    if args.work_dir is None:
        parser.error('the two-stage recipe needs --work-dir (stage 2 loads stage 1\'s '
                     'checkpoint)')
    if args.json is None and not args.load_json:
        args.json = osp.join(args.work_dir, 'results.json')
    return args


def ensure_data(root: str, args) -> None:
    if osp.isdir(osp.join(root, 'img_dir', 'val')):
        return
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'dataset_converters',
                                              'make_shapes_seg.py'),
                    '--out', root, '--num-train', str(args.num_train), '--num-val',
                    str(args.num_val), '--size', str(args.size), '--seed', '0'], check=True)


def main(argv=None):
    args = parse_args(argv)
    if args.load_json:
        runs = EXPERIMENT.load_args(args)
    else:
        os.makedirs(args.work_dir, exist_ok=True)
        data_root = osp.abspath(args.data_root or osp.join(args.work_dir, 'data'))
        ensure_data(data_root, args)
        common = {f'{k}.dataset.data_root': data_root
                  for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
        common.update(args.cfg_options)
        binary = dict(args.binary_cfg_options)
        plan = Plan(STAGE1_OF, 'iters', tuple(args.stage_iters),
                    options=lambda key: {**common, **(binary if key != 'fp' else {})})
        runs = run_plan(EXPERIMENT, args, plan, input_shape=(3, args.size, args.size))
        print(f'\ndata: {data_root} (val)')
    print(f'stages: {args.stage_iters[0]} + {args.stage_iters[1]} iterations (rows trained in '
          'one go: their sum)')
    EXPERIMENT.report(runs, args)
    ok, lines = check_runs(runs, Plan(STAGE1_OF, 'iters', tuple(args.stage_iters)))
    print('\nchecks (finite mIoU, no non-finite loss, stage 2 >= its binarized start):')
    print('\n'.join(f'  {line}' for line in lines))
    print(f'all runs {"passed" if ok else "did NOT pass"} the checks')
    values = {}
    for r in runs:
        values.setdefault(r['key'], []).append(r['value'])
    if values.get('fp'):
        fp = statistics.mean(values['fp'])
        for key, vals in values.items():
            if key == 'fp' or key.endswith('-s1'):
                continue
            ratio = statistics.mean(vals) / fp
            goal = (f' (goal >= {GOAL:.2f}: {"met" if ratio >= GOAL else "NOT met"})'
                    if key == 'groupnet-bpac' else '')
            print(f'{key} / fp mIoU (means over the seeds): {ratio:.3f}{goal}')
    return runs


if __name__ == '__main__':
    main()
