"""List, inspect, fetch and check the models of mmbnn's zoo.

    python tools/misc/zoo.py list [--all]               name, task, data set, result, size
    python tools/misc/zoo.py info NAME                  the index entry, its URL and cache state
    python tools/misc/zoo.py download NAME --dest DIR   the verified file and its config in DIR
    python tools/misc/zoo.py table [--readme FILE] [--check]
                                                        the README's zoo table (or rewrite /
                                                        check its block in FILE)
    python tools/misc/zoo.py verify [NAME ...]          re-measure published models with
                                                        tools/test.py CONFIG mmbnn://NAME

The index is mmbnn's ``model-index.yml`` (``$MMBNN_MODEL_INDEX`` to use another); relative
``Weights`` resolve against ``$MMBNN_ZOO_URL`` (a folder or an http(s) mirror), by default the
release folder that mmbnn ships. Any model name loads as a checkpoint: ``load_from =
'mmbnn://NAME'``, ``init_cfg=dict(type='Pretrained', checkpoint='mmbnn://NAME')``, ``python
tools/test.py CONFIG mmbnn://NAME``.
"""
import argparse
import os
import os.path as osp
import sys

import torch
import yaml
from mmengine.config import Config

from mmbnn.zoo import (SHA256_KEY, download_checkpoint, find_model_index, get_model_info,
                       zoo_base_url)
from mmbnn.zoo.evaluate import evaluate, recorded_metrics, reproduces
from mmbnn.zoo.table import (replace_table_block, zoo_rows, zoo_table)


def cmd_list(args):
    rows = zoo_rows(published_only=not args.all)
    head = ('name', 'task', 'data set', 'result', 'size')
    cells = [(r['name'], r['task'], r['dataset'], r['result'],
              f'{r["size"] / 1024:.1f} kB' if r['size'] is not None else '-') for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(head)]
    for line in [head] + cells:
        print('  '.join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
    if not rows:
        print(f'(no published models in {find_model_index()}'
              f'{"" if args.all else "; --all lists every model"})')


def cmd_info(args):
    info = get_model_info(args.name)
    print(f'name:      {info.name}\nconfig:    {info.config}\nmetafile:  {info.metafile}')
    if not info.weights:
        print('weights:   (not published)')
    else:
        cached = osp.join(torch.hub.get_dir(), 'checkpoints', info.filename)
        print(f'weights:   {info.weights}\nurl:       {info.url()}\nsha256:    {info.sha256}\n'
              f'cache:     {cached} ({"present" if osp.isfile(cached) else "not fetched"})\n'
              f'load with: mmbnn://{info.name}')
    meta = {k: v for k, v in (info.metadata or {}).items() if k != SHA256_KEY}
    print(yaml.safe_dump(dict(Metadata=meta, Results=info.results), sort_keys=False,
                         allow_unicode=True).rstrip())


def cmd_download(args):
    info = get_model_info(args.name)
    os.makedirs(args.dest, exist_ok=True)
    path = download_checkpoint(args.name, dest=args.dest)
    config = osp.join(args.dest, f'{info.name}.py')
    Config.fromfile(info.config).dump(config)
    print(f'{path}\n{config}')


def cmd_table(args):
    table = zoo_table()
    if not args.readme:
        print(table)
        return
    with open(args.readme, encoding='utf-8') as f:
        text = f.read()
    new = replace_table_block(text, table)
    if args.check:
        if new != text:
            sys.exit(f'{args.readme}: the zoo table is out of date; run python '
                     f'tools/misc/zoo.py table --readme {args.readme}')
        print(f'{args.readme}: the zoo table is up to date')
        return
    with open(args.readme, 'w', encoding='utf-8') as f:
        f.write(new)
    print(f'{args.readme}: zoo table written ({len(zoo_rows())} models)')


def cmd_verify(args):
    rows = [r for r in zoo_rows() if not args.names or r['name'] in args.names]
    unknown = sorted(set(args.names or []) - {r['name'] for r in rows})
    if unknown:
        sys.exit(f'not published: {unknown}')
    bad = []
    for r in rows:
        info = r['info']
        measured = evaluate(info.config, f'mmbnn://{info.name}', dataset=r['dataset'])
        problems = reproduces(recorded_metrics(info.results), measured.metrics)
        print(f'{info.name}: {"ok" if not problems else "; ".join(problems)}', flush=True)
        bad += [info.name] if problems else []
    print(f'{len(rows) - len(bad)} of {len(rows)} published models reproduce their results '
          f'(zoo: {zoo_base_url()})')
    if bad:
        sys.exit(1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('list', help='the published models')
    p.add_argument('--all', action='store_true', help='every model of the index')
    p = sub.add_parser('info', help='one model\'s entry')
    p.add_argument('name')
    p = sub.add_parser('download', help='fetch a model\'s verified file and its config')
    p.add_argument('name')
    p.add_argument('--dest', required=True, help='folder to put them in')
    p = sub.add_parser('table', help='the README zoo table')
    p.add_argument('--readme', help='rewrite the zoo table block of this file')
    p.add_argument('--check', action='store_true', help='with --readme: only check the block')
    p = sub.add_parser('verify', help='re-measure published models')
    p.add_argument('names', nargs='*', metavar='NAME', help='models (default: all published)')
    args = parser.parse_args(argv)
    if args.command == 'table' and args.check and not args.readme:
        parser.error('--check needs --readme')
    {'list': cmd_list, 'info': cmd_info, 'download': cmd_download, 'table': cmd_table,
     'verify': cmd_verify}[args.command](args)


if __name__ == '__main__':
    main()
