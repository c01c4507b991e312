"""Convert a full-precision ResNet checkpoint into a Group-Net one, offline (Group-Net's recipe).

    python tools/model_converters/resnet_to_groupnet.py SRC DST --config CONFIG

SRC is a torchvision ResNet state dict or an mmpretrain ResNet classifier checkpoint; CONFIG is
the Group-Net classifier config whose model the weights are for. Every binary base receives a
copy of the full-precision weights, bases k > 0 perturbed by ``--base-noise`` (the same mapping
as ``init_cfg=dict(type='Pretrained')``, :func:`mmbnn.models.utils.expand_to_bases`); the
classifier ``fc`` goes to ``head.fc`` when its shape matches. DST can be used as ``load_from``.
"""
import argparse

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import CheckpointLoader

import mmbnn  # noqa: F401  (registries; safe checkpoint loading)
from mmbnn.models.utils import DEFAULT_BASE_NOISE, expand_to_bases, fp_state_dict


def convert(src: str, cfg: Config, base_noise: float = DEFAULT_BASE_NOISE) -> dict:
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model.copy()
    model_cfg.backbone.pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    ckpt = CheckpointLoader.load_checkpoint(src, map_location='cpu')
    fp = fp_state_dict(ckpt, prefix=None)
    has_backbone = hasattr(model, 'backbone')
    target = model.backbone.state_dict() if has_backbone else model.state_dict()
    state, missing, unexpected = expand_to_bases(fp, target, base_noise=base_noise)
    prefix = 'backbone.' if has_backbone else ''
    out = {prefix + k: v for k, v in state.items()}
    model_state = model.state_dict()
    raw = ckpt.get('state_dict', ckpt)
    for src_key, dst_key in (('fc.weight', 'head.fc.weight'), ('fc.bias', 'head.fc.bias'),
                             ('head.fc.weight', 'head.fc.weight'),
                             ('head.fc.bias', 'head.fc.bias')):
        if src_key in raw and dst_key in model_state and \
                raw[src_key].shape == model_state[dst_key].shape:
            out[dst_key] = raw[src_key]
    print(f'converted {len(out)} tensors; kept as initialised: '
          f'{[k for k in missing if not k.endswith("num_batches_tracked")] or "none"}; '
          f'unused: {[k for k in unexpected if not k.startswith("fc.")] or "none"}')
    return dict(meta=dict(converted_from=src, converter='resnet_to_groupnet'), state_dict=out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='full-precision ResNet checkpoint (torchvision or mmpretrain)')
    parser.add_argument('dst', help='where to save the Group-Net checkpoint')
    parser.add_argument('--config', required=True, help='the Group-Net model config')
    parser.add_argument('--base-noise', type=float, default=DEFAULT_BASE_NOISE,
                        help='relative std of the noise on bases k > 0 (default: '
                        f'{DEFAULT_BASE_NOISE}; 0 gives exact copies)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    torch.save(convert(args.src, cfg, args.base_noise), args.dst)
    print(f'saved {args.dst}')


if __name__ == '__main__':
    main()
