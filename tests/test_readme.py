"""Every Python block in the README runs; the commands it names exist."""
import os.path as osp
import re

from conftest import ROOT


def readme():
    with open(osp.join(ROOT, 'README.md')) as f:
        return f.read()


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r'```python\n(.*?)```', readme(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, 'README.md', 'exec'), {})
    assert 'torch.Size([1, 512, 2, 2])' in capsys.readouterr().out


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
