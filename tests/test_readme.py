"""Every Python block in the README and in the docs (docs/en) runs; the commands they name exist.

A docs block that cannot run in seconds on a CPU (it needs a data set, a GPU or another
environment) says so with a marker the test recognises, either as the block's first line or as an
HTML comment on the line just before the block::

    # needs: the COCO data set
    <!-- needs: the LCE environment (.venv-lce) -->

and is then only compiled, not run.
"""
import glob
import os.path as osp
import re

import pytest
import torch

from conftest import ROOT

DOCS = osp.join(ROOT, 'docs', 'en')
NEEDS = re.compile(r'^\s*(?:#|<!--)\s*needs:\s*(.+?)\s*(?:-->)?\s*$')


def readme():
    with open(osp.join(ROOT, 'README.md')) as f:
        return f.read()


def doc_pages():
    return sorted(glob.glob(osp.join(DOCS, '**', '*.md'), recursive=True))


def python_blocks(text):
    """``(code, needs)`` per ```python block: ``needs`` is the marker's reason, or None."""
    blocks = []
    for m in re.finditer(r'^```python\n(.*?)^```', text, re.S | re.M):
        code = m.group(1)
        before = text[:m.start()].rstrip('\n').rsplit('\n', 1)[-1]
        first = code.split('\n', 1)[0]
        marker = NEEDS.match(first) or NEEDS.match(before)
        blocks.append((code, marker.group(1) if marker else None))
    return blocks


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r'```python\n(.*?)```', readme(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, 'README.md', 'exec'), {})
    assert 'torch.Size([1, 512, 2, 2])' in capsys.readouterr().out


def _doc_blocks():
    params = []
    for page in doc_pages():
        with open(page, encoding='utf-8') as f:
            blocks = python_blocks(f.read())
        rel = osp.relpath(page, DOCS)
        params += [pytest.param(rel, i, code, needs, id=f'{rel}:{i}')
                   for i, (code, needs) in enumerate(blocks)]
    return params


@pytest.mark.parametrize('page,index,code,needs', _doc_blocks())
def test_docs_python_blocks_run(page, index, code, needs, tmp_path, capsys):
    compiled = compile(code, f'docs/en/{page} (block {index})', 'exec')
    if needs:
        pytest.skip(f'needs {needs}')
    old_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))  # mmbnn:// downloads land here, not in the cache
    try:
        exec(compiled, {'__name__': '__docs__'})
    finally:
        torch.hub.set_dir(old_hub)
    assert capsys.readouterr().out.strip(), 'a docs block should print what it shows'


def test_readme_commands_match_ci():
    text = readme()
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        ci = f.read()
    test_cmd = re.search(r'```bash\n(\.venv/bin/python -m pytest tests)\n```', text).group(1)
    assert test_cmd in ci
    assert 'bash tools/setup_env.sh --wheelhouse "$WHEELHOUSE"' in ci
    assert 'bash tools/setup_env.sh --wheelhouse ../shared/wheelhouse' in text
    for tool in re.findall(r'tools/[\w/]+\.(?:py|sh)', text):
        assert osp.isfile(osp.join(ROOT, tool)), tool


@pytest.mark.parametrize('page', ['README.md'] + [osp.relpath(p, ROOT) for p in doc_pages()])
def test_named_scripts_and_configs_exist(page):
    """Every tool, demo and config path that the README or a docs page names is in the tree."""
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        text = f.read()
    # a path is named from the repository root (as in the commands); links are test_docs.py's
    named = re.findall(r'(?<![\w/.-])((?:tools|demo|configs|tests)/[\w/.-]+\.(?:py|sh))', text)
    missing = sorted({p for p in named if not osp.isfile(osp.join(ROOT, p))})
    assert not missing, f'{page} names files that do not exist: {missing}'
