"""Every Python block in the README and in the docs (docs/en) runs; the commands they name exist.

A docs block that cannot run in seconds on a CPU (it needs a data set, a GPU or another
environment) says so with a marker the test recognises, either as the block's first line or as an
HTML comment on the line just before the block::

    # needs: the COCO data set
    <!-- needs: the LCE environment (.venv-lce) -->

and is then only compiled, not run.

Every block of shell commands in the README, get_started and the user guides says on the line
before it which test or CI step runs it, that it is a synopsis (its options are then checked
against the script), or what it needs (test_shell_commands_are_run_or_marked).
"""
import glob
import os.path as osp
import re
import subprocess
import sys

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


def line_before(text, pos):
    """The last non-empty line of ``text`` before ``pos`` (a block's marker line)."""
    return text[:pos].rstrip('\n').rsplit('\n', 1)[-1]


def python_blocks(text):
    """``(code, needs)`` per ```python block: ``needs`` is the marker's reason, or None."""
    blocks = []
    for m in re.finditer(r'^```python\n(.*?)^```', text, re.S | re.M):
        code = m.group(1)
        before = line_before(text, m.start())
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


# ------------------------------------------------------------------ shell commands in the docs
#: A shell block (```bash, or a ```text block whose lines are commands) of the README, get_started
#: and the user guides carries one of these markers on the line before it:
#:   <!-- run by: tests/test_x.py::test_name --> a test runs these scripts with these configs
#:       (maybe on a shorter schedule, as the marker may add in brackets);
#:   <!-- run by: .ci/run -->  CI runs these commands;
#:   <!-- synopsis -->  usage with placeholders: every option shown is in the script's --help;
#:   <!-- needs: REASON -->  not run anywhere (a data set, another environment, hours of CPU).
COMMAND_PAGES = ['README.md', 'docs/en/get_started.md'] + sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(DOCS, 'user_guides', '*.md')))
COMMAND = re.compile(r'^\s*(?:\$ )?(?:\.venv/bin/)?(?:python|bash)\s', re.M)
MARKER = re.compile(r'^<!--\s*(run by|synopsis|needs)\s*:?\s*(.*?)\s*-->$')
SCRIPT = re.compile(r'(?<![\w/.-])((?:tools|demo)/[\w/.-]+\.(?:py|sh)|configs/[\w/.-]+\.py)')


def shell_blocks(text):
    """``(code, marker line)`` per block of commands."""
    blocks = []
    for m in re.finditer(r'^```(\w*)\n(.*?)^```', text, re.S | re.M):
        lang, code = m.group(1), m.group(2)
        if lang in ('bash', 'shell', 'sh', 'console') or (lang == 'text' and COMMAND.search(code)):
            blocks.append((code, line_before(text, m.start()).strip()))
    return blocks


def _commands(code):
    """The block's commands, continuation lines joined, comments and prompts dropped."""
    code = re.sub(r'\\\n\s*', ' ', code)
    out = []
    for line in code.splitlines():
        line = re.sub(r'^\s*\$ ', '', line.split('  #')[0]).strip()
        if COMMAND.match(line):
            out.append(line)
    return out


def _test_sources(spec):
    """The source of each test named in ``tests/x.py::test_a, tests/y.py::test_b``; fails for
    a test that does not exist."""
    sources = []
    for name in re.findall(r'(tests/[\w/]+\.py)::(\w+)', spec):
        path, func = osp.join(ROOT, name[0]), name[1]
        assert osp.isfile(path), f'{name[0]} does not exist'
        with open(path, encoding='utf-8') as f:
            src = f.read()
        assert re.search(rf'^def {func}\(', src, re.M), f'{name[0]} has no {func}'
        sources.append(src)
    assert sources, f'"run by" names no test: {spec!r}'
    return sources


@pytest.mark.parametrize('page', COMMAND_PAGES)
def test_shell_commands_are_run_or_marked(page):
    """Every command a page shows is run by a test or by CI, or is a synopsis whose options the
    script takes, or says what it needs."""
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        blocks = shell_blocks(f.read())
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        ci = f.read()
    for code, before in blocks:
        marker = MARKER.match(before)
        assert marker, f'{page}: a block of commands without a marker line: {code[:120]!r}'
        kind, arg = marker.group(1), marker.group(2)
        if kind == 'needs':
            assert arg, f'{page}: "needs" says nothing: {code[:120]!r}'
            continue
        commands = _commands(code)
        assert commands, f'{page}: no command found in {code[:120]!r}'
        if kind == 'run by' and arg.startswith('.ci/run'):
            for cmd in commands:  # each command, or its script and options, in .ci/run
                words = [w for w in cmd.split() if w.startswith(('tools/', '--', '-m', 'tests'))]
                assert cmd in ci or all(w in ci for w in words), f'{page}: {cmd!r} not in .ci/run'
        elif kind == 'run by':
            sources = '\n'.join(_test_sources(arg))
            for cmd in commands:
                for path in SCRIPT.findall(cmd):
                    stem = osp.basename(path)
                    assert stem in sources, f'{page}: {arg} does not run {path} ({cmd!r})'
        else:  # synopsis: the options shown are the script's
            for cmd in commands:
                scripts = [p for p in SCRIPT.findall(cmd) if p.endswith('.py')
                           and not p.startswith('configs/')]
                if not scripts:
                    continue
                with open(osp.join(ROOT, scripts[0]), encoding='utf-8') as f:
                    source = f.read()
                for opt in re.findall(r'(?<![\w-])(--[a-z][\w-]*)', cmd):
                    # declared in the script (fast), else in its --help (options it imports)
                    assert f"'{opt}'" in source or opt in _script_help(scripts[0]), \
                        f'{page}: {scripts[0]} has no option {opt}'


_HELP = {}


def _script_help(script):
    """``python SCRIPT --help`` (cached), with the sub-commands' help where it has any."""
    if script not in _HELP:
        run = lambda *a: subprocess.run([sys.executable, script, *a], cwd=ROOT,  # noqa: E731
                                        capture_output=True, text=True, timeout=120)
        proc = run('--help')
        assert proc.returncode == 0, f'{script} --help failed: {proc.stderr[-2000:]}'
        text = proc.stdout
        subs = re.search(r'\{([\w,-]+)\}', text)
        for sub in (subs.group(1).split(',') if subs else []):
            text += run(sub, '--help').stdout
        _HELP[script] = text
    return _HELP[script]
