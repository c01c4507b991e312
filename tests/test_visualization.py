"""tools/test.py --show-dir / --show: test results drawn by each toolbox's own hook and visualizer,
for a tiny detector (mmdet), segmentor (mmseg) and classifier (mmpretrain)."""
import os
import os.path as osp

import mmcv
import numpy as np
import pytest

from conftest import data_root_options
from tiny_toolbox_data import (SHAPES, cls_config, det_config, load_tool, make_cls_data,
                               make_det_data, make_seg_data, save_checkpoint, seg_config)


# mmseg's own deprecation notices, raised while it builds the tiny FCN
pytestmark = [
    pytest.mark.filterwarnings('ignore:``build_loss`` would be deprecated soon:UserWarning'),
    pytest.mark.filterwarnings('ignore:Default ``avg_non_ignore`` is False:UserWarning'),
]


@pytest.fixture(scope='module')
def test_tool():
    return load_tool('test.py')


@pytest.fixture(scope='module')
def det(tmp_path_factory):
    root = tmp_path_factory.mktemp('vis_det')
    data = make_det_data(root / 'data')
    config = det_config(root / 'det.py', data)
    return dict(config=config, data=data, ckpt=save_checkpoint(config, root / 'det.pth', SHAPES))


@pytest.fixture(scope='module')
def seg(tmp_path_factory):
    root = tmp_path_factory.mktemp('vis_seg')
    data = make_seg_data(root / 'data')
    config = seg_config(root / 'seg.py', data)
    ckpt = save_checkpoint(config, root / 'seg.pth', ('background', ) + SHAPES)
    return dict(config=config, data=data, ckpt=ckpt, root=root)


@pytest.fixture(scope='module')
def cls(tmp_path_factory):
    root = tmp_path_factory.mktemp('vis_cls')
    data = make_cls_data(root / 'data')
    config = cls_config(root / 'cls.py', data)
    ckpt = save_checkpoint(config, root / 'cls.pth', ('class0', 'class1'))
    return dict(config=config, data=data, ckpt=ckpt, root=root)


def only_run(work_dir):
    """The one WORK_DIR/TIMESTAMP folder of a test run."""
    runs = [d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d))]
    assert len(runs) == 1, runs
    return osp.join(work_dir, runs[0])


def test_detector_show_dir(test_tool, det, tmp_path, capsys):
    metrics = test_tool.main([det['config'], det['ckpt'], '--work-dir', str(tmp_path),
                              '--show-dir', 'shows'])
    assert 'coco/bbox_mAP' in metrics
    out = osp.join(only_run(tmp_path), 'shows')
    assert f'drawn test images: {out}' in capsys.readouterr().out
    images = sorted(os.listdir(osp.join(det['data'], 'val')))
    assert sorted(os.listdir(out)) == images  # one picture per test image, by its name
    for name in images:
        src = mmcv.imread(osp.join(det['data'], 'val', name))
        drawn = mmcv.imread(osp.join(out, name))
        # DetLocalVisualizer puts ground truth and prediction side by side
        assert drawn.shape == (src.shape[0], 2 * src.shape[1], 3)
        assert not np.array_equal(drawn[:, :src.shape[1]], src)  # boxes drawn on the left


def test_segmentor_show_dir(test_tool, seg, tmp_path):
    test_tool.main([seg['config'], seg['ckpt'], '--work-dir', str(tmp_path),
                    '--show-dir', 'shows'])
    out = osp.join(only_run(tmp_path), 'shows')
    images = sorted(os.listdir(osp.join(seg['data'], 'img_dir', 'val')))
    # SegVisualizationHook names them test_<image>_<iter>.png (through the LocalVisBackend)
    assert sorted(os.listdir(out)) == [f'test_{name}_0.png' for name in images]
    for name in images:
        src = mmcv.imread(osp.join(seg['data'], 'img_dir', 'val', name))
        drawn = mmcv.imread(osp.join(out, f'test_{name}_0.png'))
        assert drawn.shape == (src.shape[0], 2 * src.shape[1], 3)  # ground truth | prediction
        assert not np.array_equal(drawn[:, :src.shape[1]], src)


def test_classifier_show_dir_absolute_and_interval(test_tool, cls, tmp_path):
    out = tmp_path / 'drawn'  # an absolute --show-dir is used as it is
    test_tool.main([cls['config'], cls['ckpt'], '--work-dir', str(tmp_path / 'work'),
                    '--show-dir', str(out), *data_root_options(cls['data'])])
    images = sorted(f for d in ('class0', 'class1') for f in os.listdir(osp.join(cls['data'], d)))
    # VisualizationHook names them <image>_<step>.png
    assert sorted(os.listdir(out)) == [f'{name}_0.png' for name in images]
    for name in images:
        src = mmcv.imread(osp.join(cls['data'], f'class{name[1]}', name))
        drawn = mmcv.imread(osp.join(out, f'{name}_0.png'))
        # UniversalVisualizer writes the predicted class and score on the test input
        assert drawn.shape == src.shape
        assert not np.array_equal(drawn, src) and not np.array_equal(drawn, src[..., ::-1])

    # --interval 3: samples 0, 3 and 6 of the 8
    out2 = tmp_path / 'drawn2'
    test_tool.main([cls['config'], cls['ckpt'], '--work-dir', str(tmp_path / 'work2'),
                    '--show-dir', str(out2), '--interval', '3', *data_root_options(cls['data'])])
    assert len(os.listdir(out2)) == 3


def test_missing_hook_or_visualizer_is_named(test_tool, seg, cls, tmp_path):
    no_hook = seg_config(tmp_path / 'seg_no_hook.py', seg['data'], hook=False)
    with pytest.raises(RuntimeError, match=r"no default_hooks.visualization; add default_hooks "
                       r"= dict\(visualization=dict\(type='SegVisualizationHook'\)\)"):
        test_tool.main([no_hook, seg['ckpt'], '--work-dir', str(tmp_path), '--show-dir', 'x'])
    no_vis = cls_config(tmp_path / 'cls_no_vis.py', cls['data'], visualizer=False)
    with pytest.raises(RuntimeError, match=r"no `visualizer`.*type='UniversalVisualizer'"):
        test_tool.main([no_vis, cls['ckpt'], '--work-dir', str(tmp_path), '--show-dir', 'x'])


def test_show_without_display_is_refused(test_tool, det, tmp_path, monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    with pytest.raises(RuntimeError, match='no display.*--show-dir DIR instead'):
        test_tool.main([det['config'], det['ckpt'], '--work-dir', str(tmp_path), '--show'])
    assert not os.listdir(tmp_path)  # refused before anything ran


def test_interval_for_mmdet_and_without_drawing_is_refused(test_tool, det, tmp_path, capsys):
    with pytest.raises(ValueError, match="mmdet's DetVisualizationHook draws every test image"):
        test_tool.main([det['config'], det['ckpt'], '--work-dir', str(tmp_path),
                        '--show-dir', 'x', '--interval', '2'])
    with pytest.raises(SystemExit):
        test_tool.main([det['config'], det['ckpt'], '--interval', '2'])
    assert '--interval needs --show or --show-dir' in capsys.readouterr().err


def test_unknown_and_missing_arguments_as_argparse(test_tool, det, capsys):
    with pytest.raises(SystemExit) as e:
        test_tool.main([det['config'], det['ckpt'], '--show-dirr', 'x'])
    assert e.value.code == 2
    assert 'unrecognized arguments: --show-dirr' in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        test_tool.main([det['config']])
    assert e.value.code == 2
    assert 'the following arguments are required: checkpoint' in capsys.readouterr().err
