"""Export a trained mmbnn model to Larq Compute Engine (a ``.tflite`` for ARM phones and boards).

    python tools/deploy/export_lce.py CONFIG CHECKPOINT OUT.tflite [--shape H W] [--setup]
        [--check N] [--no-normalize] [--groups split|native] [--cfg-options K=V ...]

CHECKPOINT is the trained checkpoint of CONFIG (a file, URL, ``mmbnn://NAME`` or a packed one
from ``tools/deploy/pack.py``). The model is described here as a neutral graph (``OUT.json`` +
``OUT.npz``: every binary conv's binarizer, scale, padding value and groups, BN statistics,
residual adds, pooling; :mod:`mmbnn.deploy.lce`), and a layer LCE cannot express is refused by
name. The graph is then rebuilt with larq's ``QuantConv2D`` and converted by
``larq_compute_engine.convert_keras_model`` (target arm) in the separate LCE environment
(``.venv-lce``; ``--setup`` creates it, about 600 MB, once). The script prints the number of
``LceBconv2d`` ops against the model's binary layers.

The ``.tflite`` takes (1, H, W, C) float images as the data preprocessor takes them (0-255; the
normalization is inside, unless ``--no-normalize``) and returns the logits. ``--check N`` runs N
random images through LCE's interpreter (x86, its reference-speed kernels) and compares them with
mmbnn's float model and its converted 1-bit model (``mmbnn.deploy.convert``).
Copy OUT.tflite to the device and run it with LCE's ``lce_benchmark_model`` or its Android
library (docs/en/user_guides/deploy_lce.md).
"""
import argparse
import sys

import torch
from mmengine.config import DictAction

from mmbnn.deploy.lce import (LceEnvMissing, NotExportable, export_lce, load_model,
                              model_forward, model_inputs)
from mmbnn.deploy.lce.env import setup_lce_env


def compare_outputs(model, x: torch.Tensor, lce_logits: dict, normalize: bool = True) -> list:
    """Rows ``(name, top-1 agreement with the float model, max |logit difference|)`` for LCE's
    outputs and mmbnn's converted model on the images ``x``."""
    from mmbnn.deploy import convert
    inputs = model_inputs(model, x, normalize)
    ref = model_forward(model, inputs)
    converted = convert(model, example_inputs=inputs[:1], warn=False)
    outs = {'mmbnn converted': model_forward(converted, inputs)}
    outs.update({f'LCE ({k})': torch.as_tensor(v) for k, v in lce_logits.items()})
    rows = []
    for name, out in outs.items():
        agree = int((out.argmax(-1) == ref.argmax(-1)).sum())
        rows.append((name, agree, float((out - ref).abs().max())))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint', help='file, URL, mmbnn://NAME or a packed checkpoint')
    p.add_argument('out', help='the .tflite to write')
    p.add_argument('--shape', type=int, nargs=2, default=None, metavar=('H', 'W'),
                   help="input size (default: the test pipeline's Resize scale, else 224 224)")
    p.add_argument('--setup', action='store_true', help='create the LCE environment if missing')
    p.add_argument('--check', type=int, default=0, metavar='N',
                   help='compare LCE with mmbnn on N random images')
    p.add_argument('--no-normalize', action='store_true',
                   help="leave the data preprocessor's normalization out of the .tflite")
    p.add_argument('--groups', default='split', choices=['split', 'native'],
                   help="grouped binary convs: one LceBconv2d per group (default; every LCE "
                   "kernel runs it) or LCE's grouped bconv (indirect BGEMM only)")
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)

    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = args.shape or _pipeline_size(cfg) or (224, 224)
    model = load_model(cfg, args.checkpoint)
    channels = len((cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
                    or {}).get('mean') or [0] * 3)
    normalize = not args.no_normalize
    x = None
    if args.check:
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(args.check, channels, *shape, generator=gen) * 255
    try:
        if args.setup:
            setup_lce_env()
        result = export_lce(model, args.out, (1, channels, *shape), normalize=normalize,
                            inputs=x, groups=args.groups)
    except (NotExportable, LceEnvMissing) as e:
        print(f'cannot export: {e}', file=sys.stderr)
        return 1
    n_ours, n_lce = result['binary_layers'], result['lce_bconv2d']
    print(f'wrote {args.out} ({result["tflite_bytes"] / 2**20:.2f} MB) and the graph '
          f'{" + ".join(result["graph_files"])}')
    print(f'LceBconv2d ops: {n_lce}, binary layers in the model: {n_ours}'
          + ('' if n_lce == n_ours else ' (grouped convs split per group)'
             if n_lce > n_ours else ' (MISSING binary ops)'))
    print('ops: ' + ', '.join(f'{k} {v}' for k, v in result['ops'].items()))
    if x is not None:
        print(f'check on {len(x)} random images against the float model:')
        for name, agree, err in compare_outputs(model, x, result['lce_outputs'], normalize):
            print(f'  {name:24s} same top-1 {agree}/{len(x)}, max |logit diff| {err:.3g}')
    return 0 if n_lce >= n_ours else 1


def _pipeline_size(cfg):
    """(H, W) the test pipeline ends with: its CenterCrop, else its Resize (scale as (W, H))."""
    pipeline = (cfg.get('test_dataloader') or {}).get('dataset', {}).get('pipeline') or []
    for kind, key in (('CenterCrop', 'crop_size'), ('Resize', 'scale')):
        for t in pipeline:
            s = t.get(key)
            if str(t.get('type')) in (kind, f'mmpretrain.{kind}') and s:
                return (s, s) if isinstance(s, int) else (s[1], s[0])
    return None


if __name__ == '__main__':
    sys.exit(main())
