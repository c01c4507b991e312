"""Binary FCOS against full precision at equal total epochs: Group-Net's two-stage recipe on the
synthetic shapes, several seeds, two data settings, and one ablation per design switch.

    python tools/analysis/bench_fcos_shapes.py [--setting {single,multiscale}]
        [--work-dir work_dirs/bench_fcos_shapes] [--num-train N] [--num-val N]
        [--stage-epochs E1 E2] [--seeds S ...] [--models KEY ...]
        [--cfg-options K=V ...] [--binary-cfg-options K=V ...] [--json FILE]
        [--load-json FILE ...]

Settings (the data is generated under WORK_DIR/SETTING/data by
``tools/dataset_converters/make_shapes_coco.py`` unless it is there with these arguments):

- ``single``: the quick start's scenes, 64x64, 1-4 shapes of 16-26 pixels (all in FCOS's P3).
- ``multiscale``: 128x128, 1-6 shapes of 12-96 pixels drawn log-uniformly (about half in P3,
  a third in P4, a fifth in P5) among 4 unlabelled distractors (lines, rings, crosses).

Both: 400 training and 500 validation images by default. Models (rows; ``--models`` picks them,
default: the main lines ``fp gn5 gn3``):

- ``fp``: mmdet's FCOS, ResNet-18, width 16 (``configs/quickstart/fcos_r18_shapes.py``), trained
  E1 + E2 epochs with stage 1's optimizer (Adam 1e-3, cosine).
- ``gnK-s1`` / ``gnK``: Group-Net FCOS with K bases, stage 1 (``configs/quickstart/
  fcos_groupnet-r18_stage1-tanh_shapes.py``: the same K-base detector with tanh and real
  weights, E1 epochs) and stage 2 (``configs/quickstart/fcos_groupnet-r18_shapes.py``: binary,
  loading stage 1's final checkpoint, E2 epochs). A stage-2 row runs its stage-1 row first, per
  seed. K = 5 (``gn5``, the paper's) and 3 (``gn3``).
- Ablations of ``gn5``, one switch each (both stages): ``gn5-scratch`` (the binary detector
  from random weights, E1 + E2 epochs, Adam 1e-3: no stage 1), ``gn1`` (K = 1), ``gn5-gn`` (GN
  instead of BN per level in the binary head), ``gn5-realds`` (real 1x1 downsample shortcuts
  instead of binary ones), ``gn5-soft`` (soft gates between groups), ``gn5-noshift`` (the K
  bases of the neck's and head's convs binarize their shared input at one threshold: stage 1 one
  tanh, stage 2 one sign).

Every run is validated once, at its end, with mmdet's CocoMetric on the val split (bbox mAP,
mAP_50, mAP_75), and keeps its final checkpoint at WORK_DIR/SETTING/KEY/seedS/final.pth; the
results go to WORK_DIR/results_SETTING.json unless ``--json`` names another file (harness and
JSON format: :mod:`mmbnn.analysis.experiment`; two-stage plan and checks: ``two_stage.py``).
Stage-2 runs are also evaluated before fine-tuning (the binarized stage-1 model, its BN
statistics re-estimated: the "stage-2 start" column). After the table: every run's check (finite
mAP, no non-finite loss, stage 2 at or above its start) and the Group-Net / FP ratios of the
means; the goal is K = 5 at >= 0.8 x FP. ``--cfg-options`` go to every row, ``--binary-cfg-
options`` to the Group-Net rows.
"""
import json
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
GOAL = 0.8
METRIC = 'coco/bbox_mAP'

#: make_shapes_coco.py arguments of each data setting (``--num-train`` / ``--num-val`` apart).
SETTINGS = {
    'single': dict(size=64, max_objects=4),
    'multiscale': dict(size=128, max_objects=6, min_radius=6, max_radius=48, log_radius=True,
                       clutter=4),
}

STAGE1 = 'quickstart/fcos_groupnet-r18_stage1-tanh_shapes.py'
STAGE2 = 'quickstart/fcos_groupnet-r18_shapes.py'
FP = 'quickstart/fcos_r18_shapes.py'


def num_bases(k: int) -> dict:
    """K bases in the backbone, the neck and the head."""
    return {f'model.{part}.num_bases': k for part in ('backbone', 'neck', 'bbox_head')}


def neck_head_act(act: dict) -> dict:
    """The activation binarizer of the neck's and head's K-base convs."""
    return {f'model.{part}.conv_cfg.act_binarizer': dict(_delete_=True, **act)
            for part in ('neck', 'bbox_head')}


def two_stage_rows(key: str, name: str, options: dict = None, stage1: dict = None,
                   stage2: dict = None):
    """The stage-1 row ``KEY-s1`` and the stage-2 row ``KEY`` of one Group-Net detector."""
    options = options or {}
    return [Row(f'{key}-s1', STAGE1, f'{name}, stage 1 (tanh, real weights)',
                {**options, **(stage1 or {})}),
            Row(key, STAGE2, f'{name}, stage 2 (binary)', {**options, **(stage2 or {})})]


ROWS = [
    Row('fp', FP, 'FCOS R18 (full precision)'),
    *two_stage_rows('gn5', 'Group-Net K=5', num_bases(5)),
    *two_stage_rows('gn3', 'Group-Net K=3', num_bases(3)),
    Row('gn5-scratch', STAGE2, 'Group-Net K=5, from scratch (no stage 1)',
        {**num_bases(5), 'load_from': None, 'optim_wrapper.optimizer.lr': 1e-3}),
    *two_stage_rows('gn1', 'Group-Net K=1', num_bases(1)),
    *two_stage_rows('gn5-gn', 'Group-Net K=5, GN head', {
        **num_bases(5), 'model.bbox_head.norm_cfg': dict(type='GN', num_groups=8,
                                                         requires_grad=True)}),
    *two_stage_rows('gn5-realds', 'Group-Net K=5, real downsample',
                    {**num_bases(5), 'model.backbone.downsample': 'real'}),
    *two_stage_rows('gn5-soft', 'Group-Net K=5, soft gates',
                    {**num_bases(5), 'model.backbone.soft_gate': True}),
    *two_stage_rows('gn5-noshift', 'Group-Net K=5, one threshold per layer', num_bases(5),
                    stage1=neck_head_act(dict(type='FPProxy', kind='tanh')),
                    stage2=neck_head_act(dict(type='ApproxSign'))),
]
STAGE1_OF = {r.key: r.key + '-s1' for r in ROWS if r.config == STAGE2 and
             any(s.key == r.key + '-s1' for s in ROWS)}
MAIN = ['fp', 'gn5', 'gn3']

EXPERIMENT = Experiment(
    title='synthetic shapes (COCO format)',
    metric=METRIC,
    metric_name='bbox mAP',
    evaluate='val',
    extra_metrics=(('coco/bbox_mAP_50', 'mAP@0.5'), ('coco/bbox_mAP_75', 'mAP@0.75'),
                   (START_PREFIX + METRIC, 'stage-2 start')),
    digits=3,
    rows=ROWS)


def parse_args(argv=None):
    parser = EXPERIMENT.argument_parser(
        description='Group-Net FCOS (two-stage) vs full-precision FCOS at equal total epochs')
    parser.set_defaults(work_dir=osp.join('work_dirs', 'bench_fcos_shapes'), models=MAIN)
    parser.add_argument('--setting', choices=sorted(SETTINGS), default='single',
                        help='data setting (module docstring)')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=500)
    parser.add_argument('--stage-epochs', type=int, nargs=2, metavar=('E1', 'E2'),
                        default=None, help='epochs of stage 1 and stage 2; the other rows '
                        'train E1 + E2 (default: the quick-start configs\')')
    parser.add_argument('--binary-cfg-options', nargs='+', action=DictAction, default={},
                        metavar='K=V', help='config overrides for the Group-Net rows only')
    args = EXPERIMENT.parse_args(argv, parser)
    if args.epochs is not None or args.iters is not None:
        parser.error('give the training length with --stage-epochs E1 E2 (the full-precision '
                     'and from-scratch rows train E1 + E2)')
    if args.stage_epochs is None:
        from mmengine.config import Config
        from mmbnn.utils import config_path
        cfg = Config.fromfile(config_path(STAGE2))
        args.stage_epochs = [cfg.stage1_epochs, cfg.max_epochs]
    if min(args.stage_epochs) < 1:
        parser.error('--stage-epochs must be >= 1')
    if args.work_dir is None:
        parser.error('the two-stage recipe needs --work-dir (stage 2 loads stage 1\'s '
                     'checkpoint)')
    if args.json is None and not args.load_json:
        args.json = osp.join(args.work_dir, f'results_{args.setting}.json')
    return args


def ensure_data(args) -> str:
    """The data of ``args.setting`` under WORK_DIR/SETTING/data, generated unless it is there
    with these arguments."""
    root = osp.abspath(osp.join(args.work_dir, args.setting, 'data'))
    stamp = osp.join(root, 'bench_args.json')
    want = dict(SETTINGS[args.setting], num_train=args.num_train, num_val=args.num_val)
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == want:
                return root
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'dataset_converters', 'make_shapes_coco.py'),
           '--out', root]
    for k, v in want.items():
        flag = '--' + k.replace('_', '-')
        cmd += [flag] if v is True else [flag, str(v)]
    subprocess.run(cmd, check=True)
    with open(stamp, 'w') as f:
        json.dump(want, f)
    return root


def data_options(root: str) -> dict:
    root = root.rstrip('/') + '/'
    options = {f'{k}.dataset.data_root': root
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    options.update({f'{k}.ann_file': f'{root}annotations/instances_val.json'
                    for k in ('val_evaluator', 'test_evaluator')})
    return options


def ratios(runs) -> dict:
    """Mean Group-Net mAP / mean FP mAP, per Group-Net stage-2 or from-scratch row."""
    values = {}
    for r in runs:
        values.setdefault(r['key'], []).append(r['value'])
    fp = statistics.mean(values['fp']) if values.get('fp') else None
    if not fp:
        return {}
    return {k: statistics.mean(v) / fp for k, v in values.items()
            if k != 'fp' and not k.endswith('-s1')}


def main(argv=None):
    args = parse_args(argv)
    if args.load_json:
        runs = EXPERIMENT.load_args(args)
    else:
        os.makedirs(args.work_dir, exist_ok=True)
        common = {**data_options(ensure_data(args)), **dict(args.cfg_options)}
        binary = dict(args.binary_cfg_options)
        plan = Plan(STAGE1_OF, 'epochs', tuple(args.stage_epochs),
                    options=lambda key: {**common, **(binary if key != 'fp' else {})})
        size = SETTINGS[args.setting]['size']
        runs = run_plan(EXPERIMENT, args, plan, input_shape=(3, size, size),
                        work_dir=osp.join(args.work_dir, args.setting))
    print(f'\nsetting: {args.setting}; stages: {args.stage_epochs[0]} + '
          f'{args.stage_epochs[1]} epochs (rows trained in one go: their sum)')
    EXPERIMENT.report(runs, args)
    plan = Plan(STAGE1_OF, 'epochs', tuple(args.stage_epochs))
    ok, lines = check_runs(runs, plan)
    print('\nchecks (finite mAP, no non-finite loss, stage 2 >= its binarized start):')
    print('\n'.join(f'  {line}' for line in lines))
    print(f'all runs {"passed" if ok else "did NOT pass"} the checks')
    for key, ratio in ratios(runs).items():
        goal = (f' (goal >= {GOAL:.2f}: {"met" if ratio >= GOAL else "NOT met"})'
                if key == 'gn5' else '')
        print(f'{key} / fp bbox mAP (means over the seeds): {ratio:.3f}{goal}')
    return runs


if __name__ == '__main__':
    main()
