"""How much packing saves: float vs packed checkpoint sizes of full-size ImageNet models.

    python tools/deploy/report_pack_size.py [CONFIG ...] [--cfg-options K=V ...]

Without CONFIG it reports Group-Net ResNet-18 with K=5 bases (the paper's 5-base model: XNOR
weights, binary shortcuts) and Bi-Real-18 (XNOR weights, real avgpool shortcuts), each built
from :class:`~mmbnn.models.backbones.GroupNetResNet` with a 1000-way linear classifier; with
CONFIG, the models of those configs. Weights are random (sizes do not depend on them). For each
model it saves the float checkpoint (``state_dict`` only) and the packed one to a temporary folder
and prints their file sizes, the ratio, the ratio for the binary layers alone (bits + scales
against their float weights: 1/32 plus the scales) and the share of the packed file that the
full-precision tensors (stem, classifier, BN, real shortcuts) take.
"""
import argparse
import os
import os.path as osp
import tempfile

import torch
from mmengine.config import Config, DictAction
from torch import nn

from mmbnn.deploy import pack_model
from mmbnn.models.backbones import GroupNetResNet

BIREAL_CONV = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                   weight_binarizer=dict(type='XNORWeight'))


class ImageNetClassifier(nn.Module):
    """backbone -> global average pooling -> Linear(512, 1000)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.feat_dim, 1000)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def builtin_models():
    return {
        'Group-Net R18 K=5': lambda: ImageNetClassifier(GroupNetResNet(depth=18, num_bases=5)),
        'Bi-Real-18': lambda: ImageNetClassifier(GroupNetResNet(
            depth=18, num_bases=1, conv_cfg=BIREAL_CONV, order=('norm', 'add'), act_cfg=None,
            downsample='avgpool')),
    }


def config_model(path, options):
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    init_default_scope(cfg.get('default_scope', 'mmbnn'))
    return lambda: MODELS.build(cfg.model)


def measure(model: nn.Module, folder: str) -> dict:
    if hasattr(model, 'init_weights'):
        model.init_weights()
    float_path, packed_path = osp.join(folder, 'float.pth'), osp.join(folder, 'packed.pth')
    torch.save(dict(state_dict=model.state_dict()), float_path)
    packed = pack_model(model)
    torch.save(packed, packed_path)
    s = dict(packed['meta']['packing'], layers=len(packed['packed_weights']),
             float_file=os.path.getsize(float_path), packed_file=os.path.getsize(packed_path))
    os.remove(float_path)
    os.remove(packed_path)
    return s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', help='model configs (default: the built-in two)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    import mmbnn  # noqa: F401
    models = ({osp.basename(c): config_model(c, args.cfg_options) for c in args.configs}
              if args.configs else builtin_models())
    mb = 2**20
    header = (f'{"model":<20} {"float MB":>9} {"packed MB":>10} {"ratio":>8} | '
              f'{"binary float MB":>15} {"bits+scales MB":>14} {"binary ratio":>12} | '
              f'{"FP MB":>7} {"FP share of packed":>18}')
    print(header)
    print('-' * len(header))
    with tempfile.TemporaryDirectory() as folder:
        for name, make in models.items():
            torch.manual_seed(0)
            s = measure(make(), folder)
            binary = s['bits_bytes'] + s['scale_bytes']
            print(f'{name:<20} {s["float_file"] / mb:>9.2f} {s["packed_file"] / mb:>10.2f} '
                  f'{"1/%.1f" % (s["float_file"] / s["packed_file"]):>8} | '
                  f'{s["binary_float_bytes"] / mb:>15.2f} {binary / mb:>14.3f} '
                  f'{"1/%.1f" % (s["binary_float_bytes"] / binary):>12} | '
                  f'{s["fp_bytes"] / mb:>7.2f} {s["fp_bytes"] / s["packed_file"]:>18.1%}')
    print('ratio: packed / float file; binary ratio: (bits + scales) / float weights of the '
          'packed layers (1/32 is bits alone); FP: full-precision tensors of the packed file')


if __name__ == '__main__':
    main()
