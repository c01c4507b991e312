"""The README stays short, every relative link of the README and of docs/en resolves, and the docs
site builds with warnings as errors, as documented:

    .venv/bin/python -m sphinx -W -b html docs/en docs/_build/html

(The Python blocks of both are run by tests/test_readme.py.)"""
import glob
import importlib.util
import os.path as osp
import re
import subprocess
import sys

import pytest

from conftest import ROOT

DOCS = osp.join(ROOT, 'docs', 'en')
README_MAX_BYTES = 12_000
#: the generated zoo table (tools/misc/zoo.py table) links its configs from the repository root
ZOO_BEGIN = '<!-- zoo-table: generated'
ZOO_END = '<!-- zoo-table end -->'
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')


def pages():
    return ['README.md'] + sorted(
        osp.relpath(p, ROOT) for p in glob.glob(osp.join(DOCS, '**', '*.md'), recursive=True))


def test_readme_is_short():
    size = osp.getsize(osp.join(ROOT, 'README.md'))
    assert size < README_MAX_BYTES, (
        f'README.md is {size} bytes (limit {README_MAX_BYTES}): move the detail into docs/en')


def test_docs_pages_exist():
    for page in ['index.md', 'get_started.md', 'model_zoo.md', 'benchmarks.md', 'changelog.md',
                 'api.md', 'conf.py', 'user_guides/conversion.md', 'user_guides/deploy_lce.md']:
        assert osp.isfile(osp.join(DOCS, page)), page


def _without_code(text):
    """``text`` with fenced code blocks and inline code removed (links there are not links)."""
    text = re.sub(r'^```.*?^```', '', text, flags=re.S | re.M)
    return re.sub(r'`[^`\n]*`', '', text)


def relative_links(text):
    """``(target, from_root)`` of every relative link (anchors and URLs left out); links of the
    generated zoo table are relative to the repository root."""
    zoo = ''
    if ZOO_BEGIN in text and ZOO_END in text:
        start, end = text.index(ZOO_BEGIN), text.index(ZOO_END)
        zoo, text = text[start:end], text[:start] + text[end:]
    links = []
    for part, from_root in ((_without_code(text), False), (zoo, True)):
        for target in LINK.findall(part):
            if re.match(r'^[a-z][a-z0-9+.-]*:', target) or target.startswith('#'):
                continue
            links.append((target, from_root))
    return links


def github_slugs(path):
    """The anchors GitHub gives the headings of a Markdown file (MyST's myst_heading_anchors
    resolves these too): lower case, punctuation dropped, spaces to hyphens."""
    with open(path, encoding='utf-8') as f:
        text = re.sub(r'^```.*?^```', '', f.read(), flags=re.S | re.M)
    slugs = set()
    for title in re.findall(r'^#{1,6}\s+(.+?)\s*$', text, re.M):
        slug = re.sub(r'[^\w\- ]', '', title.strip().lower().replace('`', ''))
        slugs.add(slug.replace(' ', '-'))
    return slugs


@pytest.mark.parametrize('page', pages())
def test_relative_links_resolve(page):
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        text = f.read()
    base = osp.dirname(osp.join(ROOT, page))
    broken, bad_anchors = [], []
    for target, from_root in relative_links(text):
        path, _, anchor = target.partition('#')
        full = osp.join(ROOT if from_root else base, path)
        if not osp.exists(full):
            broken.append(target)
        elif anchor and full.endswith('.md') and anchor not in github_slugs(full):
            bad_anchors.append(target)
    assert not broken, f'{page}: links to missing files: {broken}'
    assert not bad_anchors, f'{page}: links to missing headings: {bad_anchors}'


def test_relative_links_are_found():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        links = relative_links(f.read())
    assert ('docs/en/get_started.md', False) in links
    assert ('docs/en/benchmarks.md#binary-detection-on-synthetic-shapes', False) in links
    assert 'binary-detection-on-synthetic-shapes' in github_slugs(osp.join(DOCS, 'benchmarks.md'))
    assert 'the-zoos-sparse-models' in github_slugs(osp.join(DOCS, 'user_guides', 'sparse.md'))
    with open(osp.join(DOCS, 'model_zoo.md'), encoding='utf-8') as f:
        assert any(from_root for _, from_root in relative_links(f.read()))


def test_docs_build_without_warnings(tmp_path):
    missing = [m for m in ('sphinx', 'myst_parser', 'furo') if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f'{", ".join(missing)} not installed: pip install -e .[docs] '
                    '(tools/setup_env.sh installs it)')
    cmd = [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-E', '-q', '-b', 'html',
           DOCS, str(tmp_path / 'html')]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f'sphinx-build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}'
    html = tmp_path / 'html'
    for page in ['index', 'get_started', 'user_guides/conversion', 'model_zoo', 'benchmarks',
                 'changelog', 'api']:
        assert (html / f'{page}.html').is_file(), page
    zoo = (html / 'model_zoo.html').read_text(encoding='utf-8')
    assert zoo.count('<tr') > 10 and 'mmbnn://fcos_groupnet-r18_shapes' in zoo
    api = (html / 'api.html').read_text(encoding='utf-8')
    for name in ['BinaryConv2d', 'GroupNetResNet', 'convert', 'binary_conv2d', 'summarize',
                 'download_checkpoint', 'SparseBinaryWeight']:
        assert f'id="mmbnn.' in api and name in api, name
