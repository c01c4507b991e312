"""Does binary FCOS learn? Train the Group-Net detector and its full-precision reference on the
synthetic shapes with the same schedule, and compare their bbox mAP.

    python tools/analysis/bench_fcos_shapes.py [--work-dir work_dirs/bench_fcos_shapes]
        [--num-train 400] [--num-val 100] [--size 64] [--epochs E]
        [--models groupnet fp] [--binary-init {scratch,fp}] [--cfg-options K=V ...]

The data set is generated under WORK_DIR/data (tools/dataset_converters/make_shapes_coco.py) if
it is not there. Each model is trained by tools/train.py (the configs
configs/quickstart/fcos_groupnet-r18_shapes.py and configs/quickstart/fcos_r18_shapes.py, which
share data, schedule and optimizer) and evaluated once at the end with mmdet's CocoMetric on the
val split. The script prints one line per model and the ratio of the mAPs; the goal is a
Group-Net mAP of at least 80% of the full-precision one. ``--cfg-options`` go to both models.

``--binary-init fp`` follows Group-Net's recipe, a binary network initialised from a
full-precision one: the full-precision detector is trained first and its backbone is copied into
every base of the Group-Net backbone (``init_cfg=dict(type='Pretrained', prefix='backbone.')``,
as ``torchvision://resnet18`` is in the COCO configs); the binary detector then trains for the
same epochs. ``--binary-init scratch`` (the default) trains both from random weights.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {
    'groupnet': osp.join(ROOT, 'configs', 'quickstart', 'fcos_groupnet-r18_shapes.py'),
    'fp': osp.join(ROOT, 'configs', 'quickstart', 'fcos_r18_shapes.py'),
}
METRIC = re.compile(r'coco/(bbox_mAP(?:_50|_75)?): (-?[\d.]+)')
GOAL = 0.8


def parse_args():
    parser = argparse.ArgumentParser(description='Group-Net FCOS vs full-precision FCOS')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'bench_fcos_shapes'))
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--epochs', type=int, default=None,
                        help='training epochs (default: the configs\' max_epochs)')
    parser.add_argument('--models', nargs='+', choices=sorted(CONFIGS),
                        default=['groupnet', 'fp'])
    parser.add_argument('--binary-init', choices=['scratch', 'fp'], default='scratch',
                        help='Group-Net backbone from random weights, or from the backbone of '
                        'the full-precision detector trained first')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides for both configs')
    return parser.parse_args()


def ensure_data(args) -> str:
    root = osp.abspath(osp.join(args.work_dir, 'data'))
    stamp = osp.join(root, 'bench_args.json')
    want = dict(num_train=args.num_train, num_val=args.num_val, size=args.size)
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == want:
                return root
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'dataset_converters',
                                              'make_shapes_coco.py'),
                    '--out', root, '--num-train', str(args.num_train),
                    '--num-val', str(args.num_val), '--size', str(args.size)], check=True,
                   env=dict(os.environ, PYTHONPATH=ROOT))
    with open(stamp, 'w') as f:
        json.dump(want, f)
    return root


def train(name: str, data_root: str, args, config=None) -> dict:
    work_dir = osp.join(args.work_dir, name)
    root = data_root.rstrip('/') + '/'
    options = [f'{k}.dataset.data_root={root}'
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += [f'{k}.ann_file={root}annotations/instances_val.json'
                for k in ('val_evaluator', 'test_evaluator')]
    if args.epochs is not None:
        # the cosine schedule (param_scheduler[1]) follows the number of epochs
        options += [f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs}',
                    f'default_hooks.checkpoint.interval={args.epochs}',
                    f'param_scheduler.1.T_max={args.epochs}', f'param_scheduler.1.end={args.epochs}']
    options += list(args.cfg_options)
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config or CONFIGS[name],
           '--work-dir', work_dir, '--cfg-options', *options]
    print(f'[{name}] {" ".join(cmd)}', flush=True)
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    elapsed = time.time() - start
    log = proc.stdout + proc.stderr
    with open(osp.join(args.work_dir, f'{name}.log'), 'w') as f:
        f.write(log)
    if proc.returncode != 0:
        raise SystemExit(f'[{name}] training failed ({proc.returncode}):\n{log[-4000:]}')
    metrics = {k: float(v) for k, v in METRIC.findall(log)}  # the last evaluation wins
    if 'bbox_mAP' not in metrics:
        raise SystemExit(f'[{name}] no bbox_mAP in the log:\n{log[-4000:]}')
    metrics['time_s'] = elapsed
    print(f'[{name}] bbox_mAP {metrics["bbox_mAP"]:.3f}  mAP_50 {metrics.get("bbox_mAP_50", -1):.3f}'
          f'  ({elapsed:.0f} s)', flush=True)
    return metrics


def main():
    args = parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    data_root = ensure_data(args)
    results = {}
    if args.binary_init == 'fp':
        if set(args.models) != {'groupnet', 'fp'}:
            raise SystemExit('--binary-init fp needs --models groupnet fp')
        results['fp'] = train('fp', data_root, args)
        ckpt = osp.join(args.work_dir, 'fp', 'last_checkpoint')
        with open(ckpt) as f:
            ckpt = f.read().strip()
        config = osp.abspath(osp.join(args.work_dir, 'groupnet_fp-init.py'))
        with open(config, 'w') as f:
            f.write(f'_base_ = {CONFIGS["groupnet"]!r}\n'
                    'model = dict(backbone=dict(init_cfg=dict(\n'
                    f'    _delete_=True, type="Pretrained", checkpoint={osp.abspath(ckpt)!r}, '
                    'prefix="backbone.")))\n')
        results['groupnet'] = train('groupnet', data_root, args, config)
    else:
        for name in args.models:
            results[name] = train(name, data_root, args)
    print(f'\nshapes {args.num_train} train / {args.num_val} val images of {args.size}px, '
          f'Group-Net backbone init: {args.binary_init}')
    print(f'{"model":<10} {"bbox_mAP":>9} {"mAP_50":>7} {"mAP_75":>7} {"time":>7}')
    for name, m in results.items():
        print(f'{name:<10} {m["bbox_mAP"]:>9.3f} {m.get("bbox_mAP_50", -1):>7.3f} '
              f'{m.get("bbox_mAP_75", -1):>7.3f} {m["time_s"]:>6.0f}s')
    if {'groupnet', 'fp'} <= set(results):
        fp = results['fp']['bbox_mAP']
        ratio = results['groupnet']['bbox_mAP'] / fp if fp > 0 else float('nan')
        verdict = 'met' if ratio >= GOAL else 'NOT met'
        print(f'Group-Net / FP bbox mAP: {ratio:.2f} (goal >= {GOAL:.2f}: {verdict})')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
