"""Check the LCE export: Larq Compute Engine's interpreter against mmbnn, model by model.

    python tools/deploy/compare_lce.py [--models NAME ...] [--skip-birealnet224]
                                       [--work-dir work_dirs/lce_compare] [--json FILE]

For each model: the zoo's digits models (``mmbnn://NAME``, the digits test split: 360 images at
8x8) and an untrained Bi-Real Net-18 at 224x224 (``configs/baselines/birealnet-r18_8xb32_in1k.py``,
8 random images), the script exports the model with :func:`mmbnn.deploy.lce.export_lce_many`
(all models in one process of the LCE environment, ``python tools/deploy/lce_env.py --setup``),
runs the ``.tflite`` in LCE's interpreter on x86 (default kernels and ``use_indirect_bgemm``),
and compares on the same images with mmbnn's float simulation (the model as trained) and with
its converted 1-bit model (:func:`mmbnn.deploy.convert`). It prints one row per model:
``LceBconv2d`` ops against the model's binary layers, images whose top-1 class agrees, the
largest logit difference relative to the largest logit, and the accuracy of each engine; a model
that cannot be exported shows why. Tolerance: same top-1 on every image, and
``max |logit difference| <= TOL * max |logit|`` (``--tol``, default 1e-4) on every image that
is not a near tie: an image one of whose binarizer inputs lies within ``--near-tie`` (default
1e-6) of its threshold, relative to that input's largest value
(:func:`mmbnn.deploy.lce.binarizer_margins`, float64). Two float32 engines that order their float
operations differently can binarize such a value differently, and one flipped sign moves the
logits far more than rounding does: the table counts the near ties and the images over the
tolerance, and a model passes only if every image over it is a near tie.
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DIGITS = ['birealnet-r18-w16_1xb64_digits', 'xnornet-r18-w16_1xb64_digits',
          'bnn-r18-w16_1xb64_digits', 'reactnet-r18-w16_1xb64_digits',
          'irnet-r18-w16_1xb64_digits', 'groupnet-r18-w16-1b_1xb64_digits',
          'groupnet-r18-w16-3b_1xb64_digits', 'groupnet-r18-w16-5b_1xb64_digits',
          'groupnet-r18-w16-3b-shift_1xb64_digits', 'groupnet-r18-w16-5b-shift_1xb64_digits',
          'sbnn-irnet-r18-w16-ec10_1xb64_digits', 'pruned-irnet-r18-w16-ec10_1xb64_digits']
BIREAL224 = 'birealnet-r18_8xb32_in1k (untrained, 224x224)'
SETTINGS = ('default', 'indirect_bgemm')


def digits_test_set(config):
    """``(images (N, 3, 8, 8) float 0-255, labels)`` of the config's test split."""
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(config.get('default_scope', 'mmpretrain'))
    ds = DATASETS.build(config.test_dataloader.dataset)
    items = [ds[i] for i in range(len(ds))]
    x = torch.stack([it['inputs'] for it in items]).float()
    y = torch.tensor([int(it['data_samples'].gt_label) for it in items])
    return x, y


def our_outputs(model, x):
    """Logits of the float simulation and of ``mmbnn.deploy.convert``'s model on raw images."""
    from mmbnn.deploy import convert
    from mmbnn.deploy.lce import model_forward, model_inputs
    inputs = model_inputs(model, x)
    converted = convert(model, example_inputs=inputs[:1], warn=False)
    return model_forward(model, inputs), model_forward(converted, inputs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--models', nargs='+', default=DIGITS)
    p.add_argument('--skip-birealnet224', action='store_true')
    p.add_argument('--images224', type=int, default=8)
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'lce_compare'))
    p.add_argument('--tol', type=float, default=1e-4)
    p.add_argument('--near-tie', type=float, default=1e-6)
    p.add_argument('--json')
    args = p.parse_args(argv)

    from mmengine.config import Config

    from mmbnn.deploy.lce import binarizer_margins, export_lce_many, load_graph, load_model
    from mmbnn.deploy.lce.graph import graph_prefix
    from mmbnn.zoo import get_model_info
    items, meta = [], []
    for name in args.models:
        info = get_model_info(name)
        cfg = Config.fromfile(info.config)
        model = load_model(cfg, f'mmbnn://{name}')
        x, y = digits_test_set(cfg)
        items.append(dict(model=model, out=osp.join(args.work_dir, f'{name}.tflite'),
                          input_shape=(1, *x.shape[1:]), inputs=x))
        meta.append(dict(name=name, labels=y))
    if not args.skip_birealnet224:
        torch.manual_seed(0)
        model = load_model(osp.join(ROOT, 'configs', 'baselines', 'birealnet-r18_8xb32_in1k.py'))
        x = torch.rand(args.images224, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        items.append(dict(model=model, out=osp.join(args.work_dir, 'birealnet-r18_224.tflite'),
                          input_shape=(1, 3, 224, 224), inputs=x * 255))
        meta.append(dict(name=BIREAL224, labels=None))
    os.makedirs(args.work_dir, exist_ok=True)
    results = export_lce_many(items, settings=SETTINGS)

    rows = []
    for item, m, res in zip(items, meta, results):
        row = dict(model=m['name'], images=len(item['inputs']))
        if 'error' in res:
            row['error'] = res['error']
            rows.append(row)
            continue
        ref, conv = our_outputs(item['model'], item['inputs'])
        scale = float(ref.abs().max())
        row.update(lce_bconv2d=res['lce_bconv2d'], binary_layers=res['binary_layers'],
                   tflite_bytes=res['tflite_bytes'])
        engines = {'converted': conv}
        engines.update({f'lce_{k}': torch.as_tensor(v) for k, v in res['lce_outputs'].items()})
        graph, arrays = load_graph(graph_prefix(item['out']))
        near = binarizer_margins(graph, arrays, item['inputs']) < args.near_tie
        row['near_tie_images'] = int(near.sum())
        for key, out in engines.items():
            err = (out - ref).abs().flatten(1).amax(1) / scale  # per image
            row[f'{key}_top1_agree'] = int((out.argmax(1) == ref.argmax(1)).sum())
            row[f'{key}_rel_err'] = float(err.max())
            row[f'{key}_vs_converted_top1'] = int((out.argmax(1) == conv.argmax(1)).sum())
            row[f'{key}_over_tol'] = int((err > args.tol).sum())
            row[f'{key}_over_tol_near_tie'] = int(((err > args.tol) & near).sum())
        if m['labels'] is not None:
            for key, out in [('float', ref)] + list(engines.items()):
                row[f'{key}_acc'] = 100.0 * float((out.argmax(1) == m['labels']).float().mean())
        row['ok'] = all(row[f'{k}_top1_agree'] == row['images'] and
                        row[f'{k}_over_tol'] == row[f'{k}_over_tol_near_tie']
                        for k in engines if k.startswith('lce_'))
        rows.append(row)

    print('| model | LceBconv2d / binary layers | same top-1 as float: LCE default, LCE '
          'indirect, mmbnn converted | max logit diff / max logit: LCE default, LCE indirect, '
          'converted | top-1 % float / LCE | images over tol (of them near ties): LCE default, '
          'LCE indirect | near-tie images | within tol |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        if 'error' in r:
            print(f"| {r['model']} | not exported: {r['error']} | | | | | | |")
            continue
        n = r['images']
        agree = ', '.join(f"{r[k + '_top1_agree']}/{n}"
                          for k in ('lce_default', 'lce_indirect_bgemm', 'converted'))
        err = ', '.join(f"{r[k + '_rel_err']:.1e}"
                        for k in ('lce_default', 'lce_indirect_bgemm', 'converted'))
        acc = (f"{r['float_acc']:.2f} / {r['lce_default_acc']:.2f}" if 'float_acc' in r
               else 'untrained')
        over = ', '.join(f"{r[k + '_over_tol']} ({r[k + '_over_tol_near_tie']})"
                         for k in ('lce_default', 'lce_indirect_bgemm'))
        print(f"| {r['model']} | {r['lce_bconv2d']} / {r['binary_layers']} | {agree} | {err} | "
              f"{acc} | {over} | {r['near_tie_images']}/{n} | {'yes' if r['ok'] else 'NO'} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0 if all(r.get('ok', True) for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
