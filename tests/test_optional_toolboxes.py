"""mmdet, mmseg and mmpretrain are optional extras: with a toolbox missing, mmbnn imports, builds
what needs no toolbox or the installed ones, and names the missing toolbox when asked for a
module of it. Each case runs in a fresh interpreter where a meta-path finder makes the blocked
toolboxes unimportable, as if they were not installed."""
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

BLOCKER = '''
import sys
BLOCKED = {blocked!r}

class BlockToolboxes:
    """Refuses to import the blocked top-level packages (what an uninstalled one does)."""

    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f'No module named {{name!r}} (blocked)', name=name)
        return None

sys.meta_path.insert(0, BlockToolboxes())
'''


def run_blocked(blocked, body):
    code = BLOCKER.format(blocked=tuple(blocked)) + textwrap.dedent(body) + '\nprint("ok")\n'
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip().endswith('ok'), proc.stdout[-2000:]
    return proc.stdout


def test_classification_without_mmdet_and_mmseg():
    run_blocked(['mmdet', 'mmseg'], '''
        import pytest, torch
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmpretrain.registry import DATASETS, MODELS
        init_default_scope('mmpretrain')

        backbone = MODELS.build(dict(type='mmbnn.GroupNetResNet', depth=18, num_bases=2,
                                     stem='cifar', stem_channels=8, base_channels=8))
        assert backbone(torch.randn(2, 3, 16, 16))[-1].shape == (2, 64, 2, 2)
        cfg = Config.fromfile('configs/digits/groupnet-r18-w16-3b_1xb64_digits.py')
        model = MODELS.build(cfg.model)
        assert model(torch.randn(2, 3, 8, 8), mode='tensor').shape == (2, 10)
        assert len(DATASETS.build(dict(type='mmbnn.DigitsDataset', split='test'))) == 360

        with pytest.raises(KeyError, match=r"'GroupNetFCOSHead'.*dense_heads.*"
                           r"mmdet is not installed \\(pip install mmdet, or mmbnn\\[det\\]\\)"):
            MODELS.build(dict(type='mmbnn.GroupNetFCOSHead', num_classes=3, in_channels=8))
        with pytest.raises(KeyError, match=r"decode_heads not imported: mmseg is not installed "
                           r"\\(pip install mmsegmentation, or mmbnn\\[seg\\]\\)"):
            MODELS.build(dict(type='mmbnn.BinaryASPPHead'))
        with pytest.raises(KeyError, match='coco_checked not imported: mmdet'):
            DATASETS.build(dict(type='mmbnn.CheckedCocoDataset'))
        import mmbnn.models, mmbnn.datasets
        assert 'GroupNetResNet' in mmbnn.models.__all__
        assert 'BinaryFPN' not in mmbnn.models.__all__
        assert mmbnn.datasets.__all__[:2] == ['DigitsDataset', 'MNIST5kDataset']
        loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('mmdet', 'mmseg'))
        assert not loaded, loaded
    ''')


def test_detection_without_mmpretrain_and_mmseg():
    run_blocked(['mmpretrain', 'mmseg'], '''
        import pytest, torch
        from mmdet.registry import DATASETS, MODELS
        from mmengine.registry import init_default_scope
        init_default_scope('mmdet')
        backbone = MODELS.build(dict(type='mmbnn.GroupNetResNet', depth=18, num_bases=2,
                                     stem_channels=8, base_channels=8, out_indices=(1, 2, 3)))
        feats = backbone(torch.randn(1, 3, 64, 64))
        assert [f.shape[1] for f in feats] == [16, 32, 64]
        neck = MODELS.build(dict(type='mmbnn.BinaryFPN', in_channels=[16, 32, 64],
                                 out_channels=16, num_outs=3))
        assert len(neck(feats)) == 3
        with pytest.raises(KeyError, match='digits, mmbnn.datasets.mnist5k not imported: '
                           'mmpretrain is not installed'):
            DATASETS.build(dict(type='mmbnn.DigitsDataset'))
        assert not [m for m in sys.modules if m.split('.')[0] in ('mmpretrain', 'mmseg')]
    ''')


def test_an_installed_toolbox_that_fails_to_import_is_not_skipped(tmp_path):
    """A broken mmdet raises its own error instead of its mmbnn modules silently vanishing."""
    fake = tmp_path / 'mmdet'
    fake.mkdir()
    (fake / '__init__.py').write_text("raise ImportError('this mmdet is broken')\n")
    code = f'import sys; sys.path.insert(0, {str(tmp_path)!r}); import mmbnn.models'
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and 'this mmdet is broken' in proc.stderr


def test_import_for_toolbox_arguments(monkeypatch):
    from mmbnn.registry import SKIPPED_MODULES, import_for_toolbox, toolbox_available
    with pytest.raises(ValueError, match="unknown toolbox 'mmocr'"):
        import_for_toolbox('mmocr', 'mmbnn.models', ['x'], {})
    assert toolbox_available('mmdet')
    monkeypatch.setitem(sys.modules, 'mmdet', None)
    assert not toolbox_available('mmdet')
    namespace = {}
    monkeypatch.setattr('mmbnn.registry.SKIPPED_MODULES', dict(SKIPPED_MODULES))
    assert import_for_toolbox('mmdet', 'mmbnn.models', ['dense_heads'], namespace) == []
    assert namespace == {}
    import mmbnn.registry
    assert mmbnn.registry.SKIPPED_MODULES['mmbnn.models.dense_heads'] == 'mmdet'
