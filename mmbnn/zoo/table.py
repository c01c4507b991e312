"""The zoo's models as rows and as the README's Markdown table, generated from the metafiles.

The README holds the table between :data:`TABLE_BEGIN` and :data:`TABLE_END`; ``python
tools/misc/zoo.py table --readme README.md`` rewrites that block, and a test checks that it
equals :func:`zoo_table`.
"""
import os.path as osp
import urllib.parse
import urllib.request
from typing import List, Optional

from .evaluate import METRICS, recorded_metrics
from .index import ModelInfo, find_model_index, load_model_index, zoo_base_url

__all__ = ['TABLE_BEGIN', 'TABLE_END', 'zoo_rows', 'zoo_table', 'local_weights_path',
           'replace_table_block', 'main_result']

TABLE_BEGIN = ('<!-- zoo-table: generated from the metafiles by '
               '`python tools/misc/zoo.py table --readme README.md`; do not edit by hand -->')
TABLE_END = '<!-- zoo-table end -->'


def local_weights_path(info: ModelInfo, base: Optional[str] = None) -> Optional[str]:
    """The local file that a model's ``Weights`` resolves to when the zoo base (or the
    ``Weights`` URL) is a ``file://`` URL, else None."""
    url = info.url(base)
    if not url or not url.startswith('file:'):
        return None
    return urllib.request.url2pathname(urllib.parse.urlparse(url).path)


def main_result(info: ModelInfo) -> str:
    """``'Top 1 Accuracy 96.94'``: the model's first recorded metric of :data:`METRICS`
    order, or ``'-'``."""
    recorded = recorded_metrics(info.results)
    for key, spec in METRICS.items():
        if key in recorded:
            return f'{spec.name} {recorded[key]:g}'
    return '-'


def zoo_rows(index: Optional[str] = None, published_only: bool = True) -> List[dict]:
    """One dict per model (index order): ``name``, ``task``, ``dataset``, ``split``,
    ``images``, ``result``, ``size`` (bytes of the local file, or None), ``config`` (relative
    to the index root), ``weights`` and ``info``."""
    index = find_model_index(index)
    root = osp.dirname(osp.realpath(index))
    base = zoo_base_url()
    rows = []
    for info in load_model_index(index).values():
        if published_only and not info.weights:
            continue
        first = (info.results or [{}])[0]
        path = local_weights_path(info, base) if info.weights else None
        rows.append(dict(
            name=info.name, task=first.get('Task', '-'),
            dataset=first.get('Dataset') or (info.metadata or {}).get('Training Data', '-'),
            split=first.get('Split', '-'), images=first.get('Images'),
            result=main_result(info),
            size=osp.getsize(path) if path and osp.isfile(path) else None,
            config=osp.relpath(osp.realpath(info.config), root) if info.config else '-',
            weights=info.weights, info=info))
    return rows


def zoo_table(index: Optional[str] = None) -> str:
    """The Markdown table of the published models: name (linked to its config), task, data
    set with split and images, result, packed file size."""
    lines = ['| model | task | data (split, images) | result | size (kB) | checkpoint |',
             '|---|---|---|---|---|---|']
    for r in zoo_rows(index):
        data = f'{r["dataset"]} ({r["split"]}' + (f', {r["images"]})' if r['images'] else ')')
        size = f'{r["size"] / 1024:.1f}' if r['size'] is not None else '-'
        lines.append(f'| [{r["name"]}]({r["config"]}) | {r["task"]} | {data} | {r["result"]} | '
                     f'{size} | `mmbnn://{r["name"]}` |')
    return '\n'.join(lines)


def replace_table_block(text: str, table: str) -> str:
    """``text`` with the block between :data:`TABLE_BEGIN` and :data:`TABLE_END` set to
    ``table``.

    Raises:
        ValueError: The markers are missing or out of order.
    """
    start, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f'no zoo table block: put the lines\n{TABLE_BEGIN}\n{TABLE_END}\n'
                         f'where the table goes')
    return text[:start + len(TABLE_BEGIN)] + '\n' + table + '\n' + text[end:]
