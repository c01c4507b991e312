"""Write FLOPs, BOPs, OPs and Parameters of every model of the model index into its metafile.

    python tools/misc/update_metafiles.py [--index model-index.yml] [--only NAME ...]

The numbers come from :func:`mmbnn.analysis.summarize` on the model each entry's ``Config``
builds, at the input size the summary tool takes from that config, so the zoo and
``tools/analysis/summary.py`` never disagree. Run it after changing a config.
"""
import argparse
import os.path as osp
import subprocess
import sys

import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def metafiles(index: str):
    with open(index) as f:
        imports = (yaml.safe_load(f) or {}).get('Import') or []
    return [osp.join(osp.dirname(index), p) for p in imports]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--index', default=osp.join(ROOT, 'model-index.yml'))
    parser.add_argument('--only', nargs='*', help='model names to update (default: all)')
    args = parser.parse_args()
    for metafile in metafiles(args.index):
        with open(metafile) as f:
            models = (yaml.safe_load(f) or {}).get('Models') or []
        for model in models:
            if args.only and model['Name'] not in args.only:
                continue
            cmd = [sys.executable, osp.join(ROOT, 'tools', 'analysis', 'summary.py'),
                   osp.join(ROOT, model['Config']), '--json', osp.devnull,
                   '--update-metafile', metafile, '--model-name', model['Name']]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            status = 'ok' if proc.returncode == 0 else 'FAILED\n' + proc.stderr[-2000:]
            print(f'{model["Name"]}: {status}', flush=True)


if __name__ == '__main__':
    main()
