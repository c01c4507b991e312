"""List, inspect, fetch and check the models of mmbnn's zoo.

    python tools/misc/zoo.py list [--all]               name, task, data set, result, size
    python tools/misc/zoo.py info NAME                  the index entry, its URL and cache state
    python tools/misc/zoo.py download NAME --dest DIR   the verified file and its config in DIR
    python tools/misc/zoo.py table [--readme FILE] [--check]
                                                        the README's zoo table (or rewrite /
                                                        check its block in FILE)
    python tools/misc/zoo.py verify [NAME ...]          re-measure published models with
                                                        tools/test.py CONFIG mmbnn://NAME and
                                                        check them against their tolerance
    python tools/misc/zoo.py spread [NAME ...] [--settings AVX2 AVX SSE41 default ...]
                                    [--threads 1 2] [--json FILE]
                                                        measure under each oneDNN instruction-set
                                                        cap (one process each; also VAR=VALUE or
                                                        no-onednn) and thread count, print
                                                        measured - recorded
    python tools/misc/zoo.py measure [NAME ...] [--threads N ...] --json FILE
                                                        the measurements of this process (its
                                                        $ONEDNN_MAX_CPU_ISA), as JSON

The index is mmbnn's ``model-index.yml`` (``$MMBNN_MODEL_INDEX`` to use another); relative
``Weights`` resolve against ``$MMBNN_ZOO_URL`` (a folder or an http(s) mirror), by default the
release folder that mmbnn ships. Any model name loads as a checkpoint: ``load_from =
'mmbnn://NAME'``, ``init_cfg=dict(type='Pretrained', checkpoint='mmbnn://NAME')``, ``python
tools/test.py CONFIG mmbnn://NAME``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile

import torch
import yaml
from mmengine.config import Config

from mmbnn.zoo import (SHA256_KEY, download_checkpoint, find_model_index, get_model_info,
                       zoo_base_url)
from mmbnn.zoo.evaluate import METRICS, evaluate, recorded_metrics, reproduces
from mmbnn.zoo.spread import (DEFAULT, ISA_ENV, NO_ONEDNN, current_setting,
                              finish_measure_process, largest_differences, measure_models,
                              spread_rows, start_measure_process)
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
        recorded = recorded_metrics(info.results)
        problems = reproduces(recorded, measured.metrics)
        found = ', '.join(f'{METRICS[k].name} {METRICS[k].record(measured.metrics[k]):g} '
                          f'(recorded {v:g})' for k, v in recorded.items()
                          if k in measured.metrics)
        print(f'{info.name}: {"ok: " + found if not problems else "; ".join(problems)}',
              flush=True)
        bad += [info.name] if problems else []
    tolerances = ', '.join(f'{spec.name} {spec.tolerance:g}' for spec in METRICS.values())
    print(f'{len(rows) - len(bad)} of {len(rows)} published models reproduce their results '
          f'within the tolerance (|measured - recorded| <= {tolerances}; oneDNN '
          f'{ISA_ENV}={current_setting()}, 1 thread; zoo: {zoo_base_url()})')
    if bad:
        sys.exit(1)


def cmd_measure(args):
    rows = measure_models(args.names, threads=args.threads, setting=args.setting,
                          onednn=not args.no_onednn)
    tmp = f'{args.json}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(dict(setting=current_setting(), rows=rows), f, indent=1)
    os.replace(tmp, args.json)


def cmd_spread(args):
    rows = []
    with tempfile.TemporaryDirectory(prefix='mmbnn_spread_') as tmp:
        for setting in args.settings:
            out = osp.join(tmp, f'{setting}.json')
            print(f'--- {setting}', flush=True)
            proc = start_measure_process(setting, out, args.names, args.threads,
                                         log_file=sys.stdout)
            rows += finish_measure_process(proc, out)
    table = spread_rows(rows)
    print('\n| model | setting | threads | metric | recorded | measured | difference |\n'
          '|---|---|---|---|---|---|---|')
    for r in table:
        print(f'| {r["name"]} | {r["setting"]} | {r["threads"]} | {METRICS[r["metric"]].name} | '
              f'{r["recorded"]:g} | {r["measured"]} | {r["difference"]:+g} |')
    print('\nlargest |measured - recorded| per metric:')
    for key, r in largest_differences(table).items():
        spec = METRICS[key]
        print(f'  {spec.name}: {abs(r["difference"]):g} ({r["name"]}, {r["setting"]}, '
              f'{r["threads"]} thread(s)); tolerance {spec.tolerance:g}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(measurements=rows, differences=table), f, indent=1)


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
    p = sub.add_parser('spread', help='measure under oneDNN instruction-set caps and '
                       'thread counts; print measured - recorded')
    p.add_argument('names', nargs='*', metavar='NAME', help='models (default: all published)')
    p.add_argument('--settings', '--isa', nargs='+', default=['AVX2', 'AVX', 'SSE41'],
                   help=f'settings, one process each: {ISA_ENV} values ({DEFAULT!r}: unset), '
                   f'VAR=VALUE (another environment variable, e.g. ATEN_CPU_CAPABILITY=default) '
                   f'or {NO_ONEDNN!r} (float convolutions without oneDNN)')
    p.add_argument('--threads', nargs='+', type=int, default=[1, 2])
    p.add_argument('--json', help='also write the measurements and differences here')
    p = sub.add_parser('measure', help='measure in this process (its oneDNN setting), as JSON')
    p.add_argument('names', nargs='*', metavar='NAME', help='models (default: all published)')
    p.add_argument('--threads', nargs='+', type=int, default=[1])
    p.add_argument('--json', required=True, help='output file')
    p.add_argument('--setting', help='the rows\' setting label (default: $ONEDNN_MAX_CPU_ISA)')
    p.add_argument('--no-onednn', action='store_true',
                   help='float convolutions through ATen\'s kernels, not oneDNN')
    args = parser.parse_args(argv)
    if args.command == 'table' and args.check and not args.readme:
        parser.error('--check needs --readme')
    {'list': cmd_list, 'info': cmd_info, 'download': cmd_download, 'table': cmd_table,
     'verify': cmd_verify, 'spread': cmd_spread, 'measure': cmd_measure}[args.command](args)


if __name__ == '__main__':
    main()
