"""Pack a trained checkpoint: the weights of every 1-bit binary layer stored as bits.

    python tools/deploy/pack.py CONFIG CHECKPOINT OUT [--cfg-options K=V ...]

CONFIG is the config the checkpoint was trained with (any toolbox: the model is built from the
registry of its ``default_scope``); CHECKPOINT a local file, URL or ``mmbnn://<model-name>``.
OUT keeps the checkpoint's ``meta`` and the model's weights, with each binary layer's weight as
bits plus its scales (see :mod:`mmbnn.deploy.packing`); optimizer and Runner state are dropped.
Load OUT with ``mmbnn.deploy.load_packed(model, OUT)``: the model gives the same outputs, bit for
bit, in eval mode.
"""
import argparse
import os

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import CheckpointLoader

import mmbnn  # noqa: F401  (registries; safe checkpoint loading)
import mmbnn.zoo  # noqa: F401  (the mmbnn:// checkpoint scheme)
from mmbnn.deploy import pack_model
from mmbnn.utils import strip_module_prefix


def build_model(cfg: Config, checkpoint: str):
    """``(model, meta)``: the config's model with the checkpoint's weights (strictly: every key
    must match) and the checkpoint's ``meta``."""
    init_default_scope(cfg.get('default_scope', 'mmbnn'))
    model = MODELS.build(cfg.model)
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    model.load_state_dict(strip_module_prefix(ckpt), strict=True)
    return model, ckpt.get('meta') or {}


def mb(n: int) -> str:
    return f'{n / 2**20:.3f} MB'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config of the model')
    parser.add_argument('checkpoint', help='the trained checkpoint (file, URL or mmbnn://name)')
    parser.add_argument('out', help='where to save the packed checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as tools/train.py')
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model, meta = build_model(cfg, args.checkpoint)
    meta = dict(meta, packed_from=str(args.checkpoint))
    packed = pack_model(model, meta=meta)
    torch.save(packed, args.out)
    s = packed['meta']['packing']
    print(f'packed {len(packed["packed_weights"])} binary layers '
          f'({s["num_binary_weights"]} weights): {mb(s["binary_float_bytes"])} as floats -> '
          f'{mb(s["bits_bytes"])} of bits + {mb(s["scale_bytes"])} of scales; '
          f'full-precision tensors {mb(s["fp_bytes"])}')
    for name, layer in s['layers'].items():
        print(f'  {name} ({layer["binarizer"]}): {layer["float_bytes"]} B as floats -> '
              f'{layer["packed_bytes"]} B packed, saved {layer["saved_bytes"]} B')
    for name, reason in s['unpacked_binary_layers'].items():
        print(f'kept in full precision: {name} ({reason})')
    print(f'saved {args.out} ({mb(os.path.getsize(args.out))})')


if __name__ == '__main__':
    main()
