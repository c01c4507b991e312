"""demo/image_demo.py and mmbnn.apis: one image through the toolboxes' Inferencers, drawn and saved
as JSON, with weights from a Runner checkpoint file or mmbnn://; the --1bit option."""
import hashlib
import json
import os
import os.path as osp
import shutil

import mmcv
import numpy as np
import pytest
import torch
import yaml

from mmbnn.apis import inference_model, init_inferencer
from mmbnn.zoo import MODEL_INDEX_ENV, SHA256_KEY
from tiny_toolbox_data import (SHAPES, cls_config, det_config, load_tool, make_cls_data,
                               make_det_data, make_seg_data, save_checkpoint, seg_config)

# mmseg's own deprecation notices, raised while it builds the tiny FCN
pytestmark = [
    pytest.mark.filterwarnings('ignore:``build_loss`` would be deprecated soon:UserWarning'),
    pytest.mark.filterwarnings('ignore:Default ``avg_non_ignore`` is False:UserWarning'),
]


@pytest.fixture(scope='module')
def demo():
    return load_tool('..', 'demo', 'image_demo.py')


@pytest.fixture(scope='module')
def det(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo_det')
    data = make_det_data(root / 'data', num_val=1)
    config = det_config(root / 'det.py', data)
    return dict(config=config, image=osp.join(data, 'val', '000000.png'),
                ckpt=save_checkpoint(config, root / 'det.pth', SHAPES))


@pytest.fixture(scope='module')
def cls(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo_cls')
    data = make_cls_data(root / 'data', per_class=1)
    config = cls_config(root / 'cls.py', data)
    return dict(config=config, image=osp.join(data, 'class1', 'c1_0.png'),
                ckpt=save_checkpoint(config, root / 'cls.pth', ('vertical', 'horizontal')))


@pytest.fixture
def zoo(cls, tmp_path, monkeypatch):
    """``mmbnn://tiny-cls``: a model index naming the classifier's checkpoint, which is already
    in a temporary torch hub cache (so nothing is downloaded, and it is still verified)."""
    sha = hashlib.sha256(open(cls['ckpt'], 'rb').read()).hexdigest()
    filename = f'tiny-cls_20240101-{sha[:8]}.pth'
    os.makedirs(tmp_path / 'hub' / 'checkpoints')
    shutil.copy(cls['ckpt'], tmp_path / 'hub' / 'checkpoints' / filename)
    os.makedirs(tmp_path / 'index' / 'configs')
    with open(tmp_path / 'index' / 'configs' / 'metafile.yml', 'w') as f:
        yaml.safe_dump(dict(Models=[dict(
            Name='tiny-cls', Config='configs/tiny.py', Metadata={SHA256_KEY: sha},
            Results=[dict(Task='Image Classification', Dataset='none',
                          Metrics={'Top 1 Accuracy': 0.0})],
            Weights=f'http://127.0.0.1:9/{filename}')]), f)
    with open(tmp_path / 'index' / 'model-index.yml', 'w') as f:
        yaml.safe_dump(dict(Import=['configs/metafile.yml']), f)
    monkeypatch.setenv(MODEL_INDEX_ENV, str(tmp_path / 'index' / 'model-index.yml'))
    old_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield 'mmbnn://tiny-cls'
    torch.hub.set_dir(old_hub)


def test_detector_demo(demo, det, tmp_path, capsys):
    """A Runner-style checkpoint (torch's default loader refuses it) through DetInferencer; the
    JSON holds the boxes that mmdet's own inference_detector gives."""
    result = demo.main([det['image'], det['config'], '--weights', det['ckpt'], '--out-dir',
                        str(tmp_path), '--device', 'cpu', '--vis-scale', '2',
                        '--pred-score-thr', '0'])
    assert result['vis_file'] == str(tmp_path / 'vis' / '000000.png')
    assert result['pred_file'] == str(tmp_path / 'preds' / '000000.json')
    with open(result['pred_file']) as f:
        pred = json.load(f)
    assert pred['task'] == 'detection' and pred['image'] == det['image']
    n = len(pred['labels'])
    assert n == 10  # max_per_img, every box kept (score_thr 0 in the config)
    assert len(pred['scores']) == n and np.asarray(pred['bboxes']).shape == (n, 4)
    assert pred['label_names'] == [SHAPES[i] for i in pred['labels']]
    assert '10 boxes with score >= 0.0' in capsys.readouterr().out
    src = mmcv.imread(det['image'])
    drawn = mmcv.imread(result['vis_file'])
    big = src.repeat(2, 0).repeat(2, 1)
    assert drawn.shape == big.shape  # --vis-scale 2
    assert not np.array_equal(drawn, big)  # the 10 boxes are drawn on it

    from mmdet.apis import inference_detector, init_detector
    model = init_detector(det['config'], det['ckpt'], device='cpu')
    ref = inference_detector(model, det['image']).pred_instances
    np.testing.assert_allclose(pred['bboxes'], ref.bboxes.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(pred['scores'], ref.scores.numpy(), rtol=1e-5, atol=1e-6)
    assert pred['labels'] == ref.labels.tolist()


def test_classifier_demo_from_zoo(demo, cls, zoo, tmp_path):
    """mmbnn://NAME through ImageClassificationInferencer; the scores are the model's own."""
    result = demo.main([cls['image'], cls['config'], '--weights', zoo, '--out-dir',
                        str(tmp_path), '--device', 'cpu', '--vis-scale', '4'])
    assert result['vis_file'] == str(tmp_path / 'vis' / 'c1_0.png')
    assert mmcv.imread(result['vis_file']).shape == (128, 128, 3)  # 32 x 32 drawn 4x larger
    with open(result['pred_file']) as f:
        pred = json.load(f)
    assert pred['task'] == 'classification'
    assert pred['pred_label'] == int(np.argmax(pred['pred_scores']))
    assert pred['pred_class'] == ('vertical', 'horizontal')[pred['pred_label']]

    # the same weights run by hand: mmengine's load_checkpoint, the model's preprocessor
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(cls['config'])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, cls['ckpt'], map_location='cpu')
    img = torch.from_numpy(mmcv.imread(cls['image'])).permute(2, 0, 1)  # BGR, as loaded
    with torch.no_grad():
        data = model.data_preprocessor({'inputs': [img]}, False)
        ref = model(**data, mode='predict')[0].pred_score
    np.testing.assert_allclose(pred['pred_scores'], ref.numpy(), rtol=1e-5, atol=1e-6)


def test_segmentor_demo(demo, tmp_path_factory, tmp_path):
    root = tmp_path_factory.mktemp('demo_seg')
    data = make_seg_data(root / 'data', num_val=1)
    config = seg_config(root / 'seg.py', data)
    ckpt = save_checkpoint(config, root / 'seg.pth', ('background', ) + SHAPES)
    image = osp.join(data, 'img_dir', 'val', '00000.png')
    result = demo.main([image, config, '--weights', ckpt, '--out-dir', str(tmp_path),
                        '--device', 'cpu', '--vis-scale', '2'])
    drawn = mmcv.imread(result['vis_file'])
    assert drawn.shape == (128, 128, 3)
    with open(result['pred_file']) as f:
        pred = json.load(f)
    label_map = mmcv.imread(pred['sem_seg_file'], flag='unchanged')
    assert label_map.shape == (64, 64) and pred['shape'] == [64, 64]
    ids, counts = np.unique(label_map, return_counts=True)
    assert pred['pixels_per_class'] == {pred['classes'][i]: int(c) for i, c in zip(ids, counts)}

    from mmseg.apis import inference_model as mmseg_inference
    from mmseg.apis import init_model
    ref = mmseg_inference(init_model(config, ckpt, device='cpu'), image)
    assert np.array_equal(label_map, ref.pred_sem_seg.data[0].numpy())


def test_python_api_without_out_dir(cls):
    inferencer = init_inferencer(cls['config'], cls['ckpt'], device='cpu')
    result = inference_model(inferencer, cls['image'])
    assert result['vis_file'] is None and result['pred_file'] is None
    assert set(result['prediction']) >= {'pred_label', 'pred_score', 'pred_scores'}
    with pytest.raises(ValueError, match='pred_score_thr applies to detection only'):
        inference_model(inferencer, cls['image'], pred_score_thr=0.5)
    with pytest.raises(ValueError, match='vis_scale must be a positive integer'):
        inference_model(inferencer, cls['image'], vis_scale=0)


def test_one_bit_converts_with_an_example_input(cls, det):
    """one_bit / --1bit converts with an example input (an image through the Inferencer's own
    pipeline and the model's data preprocessor), so that the BN and ReLU after every binary
    conv fold into its epilogue: the path the inference benchmark measures."""
    from mmbnn.apis import example_inputs
    for case, shape in ((cls, (1, 3, 64, 64)), (det, (1, 3, 64, 64))):
        inferencer = init_inferencer(case['config'], case['ckpt'], device='cpu')
        assert tuple(example_inputs(inferencer).shape) == shape
        assert tuple(example_inputs(inferencer, case['image']).shape)[:2] == (1, 3)
        one_bit = init_inferencer(case['config'], case['ckpt'], device='cpu', one_bit=True)
        folded = [f for f in one_bit.model._mmbnn_folded if '.bn' in f]
        assert len(folded) >= 16, one_bit.model._mmbnn_folded  # ResNet-18: 16 block convs


def test_one_bit_demo_predicts_as_the_simulated_model(demo, cls, det, tmp_path):
    sim = demo.main([cls['image'], cls['config'], '--weights', cls['ckpt'], '--out-dir',
                     str(tmp_path / 'sim'), '--device', 'cpu'])['prediction']
    real = demo.main([cls['image'], cls['config'], '--weights', cls['ckpt'], '--out-dir',
                      str(tmp_path / '1bit'), '--device', 'cpu', '--1bit'])
    assert osp.isfile(real['vis_file']) and osp.isfile(real['pred_file'])
    assert real['prediction']['pred_label'] == sim['pred_label']
    np.testing.assert_allclose(real['prediction']['pred_scores'], sim['pred_scores'],
                               rtol=1e-4, atol=1e-5)

    sim = demo.main([det['image'], det['config'], '--weights', det['ckpt'], '--out-dir',
                     str(tmp_path / 'det_sim'), '--device', 'cpu'])['prediction']
    real = demo.main([det['image'], det['config'], '--weights', det['ckpt'], '--out-dir',
                      str(tmp_path / 'det_1bit'), '--device', 'cpu', '--1bit'])['prediction']
    assert real['labels'] == sim['labels']
    np.testing.assert_allclose(real['scores'], sim['scores'], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(real['bboxes'], sim['bboxes'], rtol=1e-4, atol=1e-3)


def test_demo_show_without_display_is_refused(demo, cls, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    with pytest.raises(SystemExit) as e:
        demo.main([cls['image'], cls['config'], '--weights', cls['ckpt'], '--show'])
    assert e.value.code == 2
    assert '--show opens a window, but this machine has no display' in capsys.readouterr().err
