"""Convert a trained model to bit-packed 1-bit inference, for tools/test.py or a script.

    python tools/deploy/convert.py CONFIG CHECKPOINT [--out OUT.pth] [--out-config OUT.py]
                                   [--shape H W] [--no-fuse] [--cfg-options K=V ...]

CHECKPOINT is the trained float checkpoint of CONFIG, or a packed one from
``tools/deploy/pack.py`` (loaded with :func:`mmbnn.deploy.load_packed`). The model is converted
with :func:`mmbnn.deploy.convert` (binary layers on the xor/popcount kernels; BN and ReLU folded
into their epilogues where the data flow allows, traced on a zero input of ``--shape``), and
two files are written:

- OUT (default ``CHECKPOINT`` with ``_bitpacked.pth``): the converted model's state (packed
  weight words, per-channel scales and shifts, the full-precision layers), safe to load;
- OUT_CONFIG (default OUT with ``.py``): CONFIG with ``model`` wrapped in
  ``mmbnn.BitPackedModel``, so that

      python tools/test.py OUT_CONFIG OUT

  evaluates the converted model with the original test pipeline and metrics.
"""
import argparse
import os.path as osp
import re
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import CheckpointLoader

import mmbnn  # noqa: F401  (registries; safe checkpoint loading)
import mmbnn.zoo  # noqa: F401  (the mmbnn:// checkpoint scheme)
from mmbnn.deploy import BitPackedModel, is_packed, load_packed, simulated_layers, unfused
from mmbnn.utils import strip_module_prefix


def input_channels(cfg: Config) -> int:
    """The image channels the model takes: the data preprocessor's mean, else 3."""
    mean = (cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}).get('mean')
    return len(mean) if mean is not None else 3


def wrapped_config(cfg: Config, shape, fuse: bool) -> Config:
    """CONFIG with its model wrapped in ``mmbnn.BitPackedModel`` (and ``mmbnn.deploy`` in
    ``custom_imports``, which registers the wrapper)."""
    out = Config(cfg.to_dict(), filename=cfg.filename)
    out.model = dict(type='mmbnn.BitPackedModel', model=cfg.to_dict()['model'],
                     scope=cfg.get('default_scope', 'mmbnn'),
                     fuse_input_shape=list(shape) if fuse else None)
    imports = dict(out.get('custom_imports') or {})
    names = list(imports.get('imports', []))
    if 'mmbnn.deploy' not in names:
        names.append('mmbnn.deploy')
    out.custom_imports = dict(imports, imports=names, allow_failed_imports=False)
    out.load_from = None
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config of the model')
    parser.add_argument('checkpoint', help='float or packed checkpoint (file, URL, mmbnn://name)')
    parser.add_argument('--out', help='converted checkpoint (default: CHECKPOINT_bitpacked.pth)')
    parser.add_argument('--out-config', help='wrapped config (default: OUT with .py)')
    parser.add_argument('--shape', type=int, nargs=2, default=[64, 64], metavar=('H', 'W'),
                        help='size of the zero image that traces the data flow for folding '
                        'BN/ReLU into the epilogues (default: 64 64)')
    parser.add_argument('--no-fuse', action='store_true', help='do not fold BN/ReLU')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as tools/train.py')
    args = parser.parse_args(argv)

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    out = args.out or re.sub(r'(\.pth)?$', '_bitpacked.pth', osp.basename(args.checkpoint), 1)
    out_config = args.out_config or re.sub(r'\.pth$', '', out) + '.py'
    shape = (1, input_channels(cfg), *args.shape)

    init_default_scope(cfg.get('default_scope', 'mmbnn'))
    model_cfg = cfg.to_dict()['model']
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner builds the model
        model_cfg.setdefault('data_preprocessor', cfg.to_dict()['data_preprocessor'])
    ckpt = CheckpointLoader.load_checkpoint(args.checkpoint, map_location='cpu')
    source = MODELS.build(model_cfg)
    if is_packed(ckpt):
        load_packed(source, ckpt)
    else:
        source.load_state_dict(strip_module_prefix(ckpt), strict=True)
    wrapped = wrapped_config(cfg, shape, not args.no_fuse)
    model = BitPackedModel(source, fuse_input_shape=None if args.no_fuse else shape)
    meta = dict(ckpt.get('meta') or {})
    engines = [name for name, m in model.model.named_modules()
               if type(m).__name__.startswith('Fused') and '.' not in name.strip('.')]
    meta['bitpacked'] = dict(source_checkpoint=str(args.checkpoint), config=osp.abspath(
        args.config), engines=engines, folded=list(getattr(model.model, '_mmbnn_folded', [])),
        simulated=[list(s) for s in simulated_layers(model.model)],
        unfused=[list(s) for s in unfused(model.model)])
    torch.save(dict(meta=meta, state_dict=model.state_dict()), out)
    wrapped.dump(out_config)
    n_packed = sum(1 for m in model.modules() if hasattr(m, 'packed_weight'))
    print(f'converted {n_packed} binary layers to bit-packed kernels'
          + (f' (fused engine: {", ".join(engines)})' if engines else '') +
          f', folded {len(meta["bitpacked"]["folded"])} more BN/ReLU modules into their '
          f'epilogues, {len(meta["bitpacked"]["simulated"])} binary layers stay simulated')
    for name, kind, why in meta['bitpacked']['unfused']:
        print(f'  {name} ({kind}) runs layer by layer: {why}')
    print(f'saved {out} and {out_config}; evaluate with:\n'
          f'  python tools/test.py {out_config} {out}')
    return out, out_config


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
