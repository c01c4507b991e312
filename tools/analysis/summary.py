"""Binary and real operations, parameters, memory and compression of a model, layer by layer.

    python tools/analysis/summary.py CONFIG [--shape H W] [--json [FILE]] [--cfg-options K=V ...]
                                     [--larq [{larq,keras}]]
                                     [--update-metafile METAFILE --model-name NAME]

Works on mmpretrain classifiers, mmdet detectors and mmseg segmentors alike (the toolbox comes
from the config's ``default_scope``); see :func:`mmbnn.analysis.summarize` for what is counted.
The input size is ``--shape`` (``H``, ``H W`` or ``C H W``), else the last resize or crop of the
config's test pipeline (mmpretrain's crop size, mmdet's and mmseg's ``Resize`` scale, which with
``keep_ratio`` is the largest size an image is resized to), else the data preprocessor's ``size``
(mmseg's pad size), else 224 x 224.

``--json`` prints the summary as JSON instead of the tables (``--json FILE`` writes it to FILE).
``--larq [CONVENTION]`` adds the totals in larq's conventions, to compare with larq-zoo's figures
(BN moving statistics counted, MB = 2^20 bytes; :mod:`mmbnn.analysis.larq_counts`): ``larq``
(larq >= 0.10, 2 values per BN channel, the default) or ``keras`` (every BN variable, larq-zoo's
2019 docstrings); with ``--json`` they go under the key ``larq``.
``--update-metafile METAFILE --model-name NAME`` writes FLOPs, BOPs, OPs and Parameters into that
model's ``Metadata`` in an OpenMMLab ``metafile.yml``, keeping the rest of the file.
"""
import argparse
import json
import sys
from typing import Iterator, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, init_default_scope

import mmbnn  # noqa: F401  (registries; safe checkpoint loading)
from mmbnn.analysis import format_summary, larq_counts, summarize, update_metafile

DEFAULT_SHAPE = (224, 224)
# Pipelines searched for the input size, in this order.
_PIPELINE_SOURCES = ('test_dataloader', 'test_pipeline', 'val_dataloader', 'val_pipeline',
                     'train_dataloader', 'train_pipeline')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-layer BOPs, FLOPs, parameters and memory of a (binary) model')
    parser.add_argument('config', help='config file path (mmpretrain, mmdet or mmseg)')
    parser.add_argument('--shape', type=int, nargs='+', metavar='N',
                        help='input size: H (square), H W, or C H W; default: from the config')
    parser.add_argument('--json', nargs='?', const='-', metavar='FILE',
                        help='print the summary as JSON (or write it to FILE)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as key=value pairs')
    parser.add_argument('--larq', nargs='?', const='larq', choices=('larq', 'keras'),
                        help='also give parameters, size (MB = 2^20 bytes) and MACs in larq\'s '
                        'convention: larq (>= 0.10, BN = 2 values per channel; default) or keras '
                        '(every BN variable, as larq-zoo\'s 2019 figures)')
    parser.add_argument('--update-metafile', metavar='METAFILE',
                        help='write FLOPs, BOPs, OPs and Parameters into this metafile.yml')
    parser.add_argument('--model-name', help='the model\'s Name in --update-metafile')
    args = parser.parse_args(argv)
    if args.shape is not None and not 1 <= len(args.shape) <= 3:
        parser.error(f'--shape takes H, H W or C H W, got {len(args.shape)} numbers')
    if bool(args.update_metafile) != bool(args.model_name):
        parser.error('--update-metafile and --model-name go together')
    return args


def _pipelines(obj) -> Iterator[list]:
    """Every ``pipeline`` list inside a dataloader or dataset config (wrapped datasets too)."""
    if isinstance(obj, dict):
        if isinstance(obj.get('pipeline'), list):
            yield obj['pipeline']
        for key in ('dataset', 'datasets'):
            if key in obj:
                yield from _pipelines(obj[key])
    elif isinstance(obj, (list, tuple)):
        if obj and all(isinstance(t, dict) and 'type' in t for t in obj):
            yield list(obj)  # a pipeline itself
        else:
            for x in obj:
                yield from _pipelines(x)


def _size(value, hw_order: bool = False) -> Optional[Tuple[int, int]]:
    """``(H, W)`` from an int, a ``(W, H)`` pair (mmcv's order; ``(H, W)`` if ``hw_order``), or
    a list of pairs (multi-scale: the first)."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and value:
        if isinstance(value[0], (list, tuple)):
            return _size(value[0], hw_order)
        if len(value) == 2 and all(isinstance(v, int) for v in value):
            return tuple(value) if hw_order else (value[1], value[0])
    return None


def input_shape_from_config(cfg: Config) -> Tuple[Optional[Tuple[int, int]], str]:
    """``((H, W), where)`` from the last resize or crop of the first pipeline found, else from
    the data preprocessor's ``size`` (mmseg pads every input to it: ``(H, W)``); ``(None,
    reason)`` if neither gives one."""
    for source in _PIPELINE_SOURCES:
        for pipeline in _pipelines(cfg.get(source)):
            size, where = None, ''
            for t in pipeline:
                kind = str(t.get('type', ''))
                if 'crop_size' in t:  # mmcv's CenterCrop: (w, h); mmdet/mmseg RandomCrop: (h, w)
                    found = _size(t['crop_size'], hw_order='RandomCrop' in kind)
                elif 'scale' in t and 'Resize' in kind:
                    found = _size(t['scale'])
                else:
                    found = None
                if found is not None:
                    size, where = found, f'{source}: {kind}'
            if size is not None:
                return size, where
    for where in ('model.data_preprocessor', 'data_preprocessor'):
        preprocessor = cfg.get('model', {}).get('data_preprocessor') if where.startswith(
            'model.') else cfg.get('data_preprocessor')
        size = _size((preprocessor or {}).get('size'), hw_order=True)
        if size is not None:
            return size, f'{where}.size'
    return None, 'no resize or crop in the config\'s pipelines, no data_preprocessor.size'


def build_model(cfg: Config):
    if cfg.get('default_scope') is not None:
        init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model)


def format_larq(counts) -> str:
    """The larq-convention totals as lines of text."""
    by_bits = ', '.join(f'{b}-bit {n:,}' for b, n in counts.params_by_bits.items())
    macs = ', '.join(f'{b}-bit {n:,}' for b, n in counts.macs_by_precision.items())
    return (f'larq convention ({counts.convention!r}; BN values counted: {counts.bn_values:,})\n'
            f'  Parameters  {counts.params:,}  ({by_bits})\n'
            f'  Model size  {counts.size_mb:.2f} MB (2^20 bytes)\n'
            f'  MACs        {counts.macs:,}  ({macs}; binarized '
            f'{100 * counts.binary_mac_share:.2f} %)\n')


def main(argv: Optional[Sequence[str]] = None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.shape is not None:
        shape = tuple(args.shape) * 2 if len(args.shape) == 1 else tuple(args.shape)
        where = '--shape'
    else:
        shape, where = input_shape_from_config(cfg)
        if shape is None:
            shape, where = DEFAULT_SHAPE, f'default ({where})'
    print(f'Input size {shape} from {where}', file=sys.stderr)

    model = build_model(cfg)
    summary = summarize(model, shape)

    larq = None if args.larq is None else larq_counts(model, summary, convention=args.larq)
    if args.json is None:
        print(format_summary(summary))
        if larq is not None:
            print(format_larq(larq))
    else:
        data = summary.to_dict()
        if larq is not None:
            data['larq'] = larq.to_dict()
        text = json.dumps(data, indent=2)
        if args.json == '-':
            print(text)
        else:
            with open(args.json, 'w') as f:
                f.write(text + '\n')
    if args.update_metafile:
        metadata = update_metafile(args.update_metafile, args.model_name, summary)
        print(f'Updated {args.model_name} in {args.update_metafile}: {metadata}',
              file=sys.stderr)


if __name__ == '__main__':
    main()
