"""Does Binary Parallel Atrous Convolution help? Group-Net with and without BPAC, and the
full-precision DeepLabV3, trained for the same iterations on the synthetic shapes.

    python tools/analysis/bench_bpac_shapes.py [--work-dir DIR] [--data-root DIR]
        [--iters 1200] [--seeds 0 1] [--models fp groupnet groupnet-bpac] [--threads 1]
        [--cfg-options K=V ...]

The models (ResNet-18 of width 8, output stride 8, a DeepLabV3 head; same data, optimizer,
schedule, iterations and seed):

- ``groupnet-bpac``: ``configs/quickstart/deeplabv3_groupnet-r18_shapes.py`` as it is: Group-Net
  (K=5 binary bases per group), BPAC (one dilation per base in stages 3 and 4), binary ASPP head.
- ``groupnet``: the same without BPAC (``base_dilations=None``: every base of stage 3 / 4 uses
  the stage's dilation, 2 / 4).
- ``fp``: the full-precision reference, ``configs/quickstart/deeplabv3_r18_shapes.py``: mmseg's
  ResNetV1c-18 of the same width, strides and dilations, and mmseg's ASPPHead, same rates.

The data (``make_shapes_seg.py``: 600 train / 200 val images of 96x96 by default) is written
into the data root when it is missing. Each run reports the validation mIoU (mmseg's
``IoUMetric``), aAcc and its wall time; the table goes to stdout and ``results.json`` in the
work dir. ``--threads 1`` (the default): on a CPU shared with other jobs one thread per process
is several times faster than more.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'deeplabv3_groupnet-r18_shapes.py')
FP_QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'deeplabv3_r18_shapes.py')
MODELS = ('fp', 'groupnet', 'groupnet-bpac')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/bench_bpac_shapes')
    parser.add_argument('--data-root', default=None,
                        help='shapes dataset (default: WORK_DIR/data; generated if missing)')
    parser.add_argument('--num-train', type=int, default=600)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--size', type=int, default=96)
    parser.add_argument('--iters', type=int, default=1200, help='training iterations per model')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--models', nargs='+', choices=MODELS, default=list(MODELS))
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides applied to the config of every model (data, schedule, '
                        'optimizer...)')
    parser.add_argument('--binary-cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides applied to the two Group-Net models only')
    return parser.parse_args(argv)


def ensure_data(root: str, args) -> None:
    if osp.isdir(osp.join(root, 'img_dir', 'val')):
        return
    sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
    import make_shapes_seg
    make_shapes_seg.main(['--out', root, '--num-train', str(args.num_train), '--num-val',
                          str(args.num_val), '--size', str(args.size), '--seed', '0'])


def model_config(name: str, args):
    """The config of model ``name``, with the command line's overrides."""
    from mmengine.config import Config
    cfg = Config.fromfile(FP_QUICKSTART if name == 'fp' else QUICKSTART)
    cfg.merge_from_dict(args.cfg_options)
    if name != 'fp':
        cfg.merge_from_dict(args.binary_cfg_options)
    if name == 'groupnet':
        cfg.model.backbone.base_dilations = None
    return cfg


def train_and_test(cfg, work_dir: str, iters: int, seed: int, data_root: str) -> dict:
    from mmengine.runner import Runner
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters  # evaluate once, after the last iteration
    cfg.param_scheduler[0].end = iters
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters,
                                        max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = 100
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    train_s = time.time() - start
    hub = runner.message_hub  # the validation metrics of the last iteration
    return dict(mIoU=float(hub.get_scalar('val/mIoU').current()),
                aAcc=float(hub.get_scalar('val/aAcc').current()), train_s=round(train_s, 1))


def main(argv=None):
    args = parse_args(argv)
    import torch
    import mmbnn  # noqa: F401
    import mmbnn.datasets.shapes_seg  # noqa: F401
    torch.set_num_threads(args.threads)
    data_root = args.data_root or osp.join(args.work_dir, 'data')
    ensure_data(data_root, args)
    results = []
    for seed in args.seeds:
        for name in args.models:
            cfg = model_config(name, args)
            out = train_and_test(cfg, osp.join(args.work_dir, f'{name}_seed{seed}'), args.iters,
                                 seed, data_root)
            results.append(dict(model=name, seed=seed, **out))
            print(f'[bench_bpac_shapes] {name} seed {seed}: mIoU {out["mIoU"]:.2f}, '
                  f'aAcc {out["aAcc"]:.2f}, {out["train_s"]:.0f} s', flush=True)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(iters=args.iters, seeds=args.seeds, data_root=data_root,
                       cfg_options=dict(args.cfg_options),
                       binary_cfg_options=dict(args.binary_cfg_options), results=results),
                  f, indent=1)
    print(f'\nmIoU on {data_root} (val), {args.iters} iterations, seeds {args.seeds}:')
    print('| model | mIoU per seed | mean mIoU | mean aAcc | train s / run |')
    print('|---|---|---|---|---|')
    for name in args.models:
        rows = [r for r in results if r['model'] == name]
        per_seed = ' / '.join(f'{r["mIoU"]:.2f}' for r in rows)
        print(f'| {name} | {per_seed} | '
              f'{statistics.mean(r["mIoU"] for r in rows):.2f} | '
              f'{statistics.mean(r["aAcc"] for r in rows):.2f} | '
              f'{statistics.mean(r["train_s"] for r in rows):.0f} |')


if __name__ == '__main__':
    main()
