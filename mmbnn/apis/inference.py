"""Run a binary detector, segmentor or classifier on one image, through its toolbox's Inferencer.

    from mmbnn.apis import inference_model, init_inferencer

    inferencer = init_inferencer('configs/quickstart/fcos_groupnet-r18_shapes.py',
                                 'work_dirs/fcos_groupnet-r18_shapes/epoch_6.pth', device='cpu')
    result = inference_model(inferencer, 'data/shapes_coco/val/000000.png', out_dir='outputs',
                             vis_scale=4)
    result['prediction']   # {'labels': [...], 'scores': [...], 'bboxes': [...], ...}
    result['vis_file']     # outputs/vis/000000.png, the predictions drawn on the image
    result['pred_file']    # outputs/preds/000000.json, result['prediction'] as JSON

:func:`init_inferencer` picks the Inferencer from the config's ``default_scope``: mmdet's
``DetInferencer``, mmseg's ``MMSegInferencer`` or mmpretrain's ``ImageClassificationInferencer``
(the returned object is that Inferencer, with all its options). They load the weights through
mmengine's ``CheckpointLoader``, where importing mmbnn has installed its safe loader for local
files (:mod:`mmbnn.utils.checkpoint`) and the ``mmbnn://MODEL-NAME`` scheme (:mod:`mmbnn.zoo`),
so Runner checkpoints and zoo names both work. ``one_bit=True`` replaces the simulated model by
the real 1-bit inference model of ``mmbnn.deploy.convert``, converted with an example input
(:func:`example_inputs`: an image through the Inferencer's own pipeline and the model's data
preprocessor), so that the BN and ReLU after each binary conv fold into its epilogue: the path
that ``tools/analysis/bench_inference.py`` measures.

:func:`inference_model` writes one layout for all three tasks: the drawn picture under
``OUT_DIR/vis/`` (named by the toolbox: mmdet and mmseg keep the image's file name, mmpretrain
writes ``STEM.png``) and the prediction as ``OUT_DIR/preds/STEM.json``; for segmentation also the
label map as ``OUT_DIR/preds/STEM.png`` (one pixel value per class index, as mmseg writes it).
The toolbox's visualizer draws; ``vis_scale`` enlarges the picture (not the model's input) for
small images such as the 64 x 64 shapes.
"""
import json
import os
import os.path as osp
from typing import Optional, Union

import numpy as np
import torch
from mmengine.config import Config

from .toolbox import TOOLBOXES, toolbox_class, toolbox_of

__all__ = ['init_inferencer', 'inference_model', 'convert_to_one_bit', 'example_inputs']

#: The picture :func:`example_inputs` uses when given none: mid-grey, 64 x 64 (the Inferencer's
#: pipeline then resizes it as the config says).
EXAMPLE_IMAGE_SIZE = 64


@torch.no_grad()
def example_inputs(inferencer, image: Union[None, str, np.ndarray] = None) -> torch.Tensor:
    """The model's input tensor for one image, as the Inferencer feeds it: ``image`` (a path or
    an H x W x 3 uint8 array; default a mid-grey :data:`EXAMPLE_IMAGE_SIZE` square) through the
    Inferencer's own pipeline (``preprocess``) and the model's data preprocessor."""
    if image is None:
        image = np.full((EXAMPLE_IMAGE_SIZE, EXAMPLE_IMAGE_SIZE, 3), 128, dtype=np.uint8)
    chunk = next(iter(inferencer.preprocess([image], batch_size=1)))
    # mmdet yields [images, data]; mmpretrain and mmseg the data itself
    data = chunk if isinstance(chunk, dict) else chunk[1]
    return inferencer.model.data_preprocessor(data, False)['inputs']


def convert_to_one_bit(model, example: Optional[torch.Tensor] = None):
    """``mmbnn.deploy.convert(model, example_inputs=example)`` (with an example input the BN and
    ReLU after each binary conv fold into its epilogue), keeping what the Inferencers read from
    the model (``dataset_meta`` and the config mmpretrain stores on it)."""
    from mmbnn.deploy import convert
    converted = convert(model, example_inputs=example)
    for attr in ('dataset_meta', '_dataset_meta', '_config', '_metainfo'):
        if hasattr(model, attr) and not hasattr(converted, attr):
            setattr(converted, attr, getattr(model, attr))
    return converted


def init_inferencer(config: Union[str, Config], weights: Optional[str] = None,
                    device: Optional[str] = None, one_bit: bool = False,
                    example_image: Union[None, str, np.ndarray] = None):
    """The toolbox's Inferencer for a config.

    Args:
        config (str | Config): An mmdet, mmseg or mmpretrain config (by ``default_scope``).
        weights (str, optional): A checkpoint file or ``mmbnn://MODEL-NAME``. Default: None
            (random weights, with the toolbox's warning).
        device (str, optional): ``'cpu'``, ``'cuda:0'``, ...; None lets the toolbox choose (a GPU
            where there is one). Default: None.
        one_bit (bool): Run the model converted by ``mmbnn.deploy.convert`` (real 1-bit
            inference, BN and ReLU folded) instead of the simulated one. Default: False.
        example_image (str | np.ndarray, optional): With ``one_bit``, the image whose model
            input (:func:`example_inputs`) traces the model for the folding; any image the
            pipeline takes will do. Default: None (a mid-grey picture).

    Returns:
        ``DetInferencer`` | ``MMSegInferencer`` | ``ImageClassificationInferencer``

    Raises:
        RuntimeError: An mmseg config without a ``visualizer`` (``MMSegInferencer`` needs one).
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    scope = toolbox_of(cfg)
    if scope == 'mmseg' and not cfg.get('visualizer'):
        raise RuntimeError(
            "MMSegInferencer needs a `visualizer` in the config; add visualizer = dict("
            "type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], "
            "name='visualizer') (as mmseg's configs/_base_/default_runtime.py has it)")
    if cfg.get('visualizer') and 'save_dir' not in cfg.visualizer:
        # An Inferencer's visualizer has no save_dir, so mmengine drops (with a warning) the
        # storage backends of the config; the pictures go to out_file instead.
        cfg.visualizer.pop('vis_backends', None)
    inferencer_cls = toolbox_class(scope, 'inferencer')
    if scope == 'mmpretrain':
        inferencer = inferencer_cls(model=cfg, pretrained=weights or False, device=device)
    elif scope == 'mmdet':
        inferencer = inferencer_cls(model=cfg, weights=weights, device=device,
                                    show_progress=False)
    else:
        inferencer = inferencer_cls(model=cfg, weights=weights, device=device)
    if one_bit:
        inferencer.model = convert_to_one_bit(inferencer.model,
                                              example_inputs(inferencer, example_image))
    return inferencer


def _scope_of(inferencer) -> str:
    scope = type(inferencer).__module__.split('.')[0]
    if scope not in TOOLBOXES:
        raise TypeError(f'expected an Inferencer of {", ".join(TOOLBOXES)} (see '
                        f'init_inferencer), got {type(inferencer).__name__}')
    return scope


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _classes(inferencer, scope):
    if scope == 'mmpretrain':
        return list(inferencer.classes) if inferencer.classes is not None else None
    meta = getattr(inferencer.model, 'dataset_meta', None) or {}
    classes = meta.get('classes')
    return list(classes) if classes is not None else None


def _visualizer_error(scope: str) -> RuntimeError:
    return RuntimeError(
        f"drawing needs a `visualizer` in the config; add visualizer = dict("
        f"type='{TOOLBOXES[scope]['visualizer']}', vis_backends=[dict(type='LocalVisBackend')], "
        f"name='visualizer') (as {scope}'s configs/_base_/default_runtime.py has it)")


def _enlarge(sample, scale: int):
    """A copy of a detection or segmentation prediction for the image enlarged ``scale`` times
    (boxes scaled, label maps repeated pixel by pixel)."""
    sample = sample.clone()
    if 'pred_instances' in sample:
        sample.pred_instances.bboxes = sample.pred_instances.bboxes * scale
    if 'pred_sem_seg' in sample:
        from mmengine.structures import PixelData
        data = sample.pred_sem_seg.data
        sample.pred_sem_seg = PixelData(
            data=data.repeat_interleave(scale, -2).repeat_interleave(scale, -1))
    return sample


def inference_model(inferencer, image: str, out_dir: Optional[str] = None,
                    pred_score_thr: float = 0.3, vis_scale: int = 1, show: bool = False,
                    wait_time: float = 0.) -> dict:
    """Predict one image with an Inferencer of :func:`init_inferencer`; optionally draw the
    prediction with the toolbox's visualizer and save it as JSON.

    Args:
        inferencer: The toolbox's Inferencer (see :func:`init_inferencer`).
        image (str): Path of the image.
        out_dir (str, optional): Write ``vis/`` (the drawn picture) and ``preds/STEM.json``
            here. Default: None (nothing written).
        pred_score_thr (float): Boxes scoring below this are not drawn (detection only; the
            JSON keeps every box the model returns). Default: 0.3.
        vis_scale (int): Draw on the image enlarged this many times (pixels repeated), for
            small images such as the 64 x 64 shapes; the model sees the image as it is and the
            JSON is in its pixels. Default: 1.
        show (bool): Also show the drawn picture in a window (needs a display). Default: False.
        wait_time (float): Seconds the window stays (0: until closed). Default: 0.

    Returns:
        dict: ``task``; ``prediction``, the toolbox's prediction as plain lists and numbers,
        with the class names (detection: ``labels``, ``scores``, ``bboxes`` as x1, y1, x2, y2
        in image pixels, ``label_names``; classification: ``pred_label``, ``pred_score``,
        ``pred_scores``, ``pred_class``; segmentation: ``shape``, ``classes``,
        ``pixels_per_class``, and ``sem_seg_file``, the label map); ``vis_file`` and
        ``pred_file`` (None without ``out_dir``).
    """
    if not osp.isfile(image):
        raise FileNotFoundError(f'no image {image!r}')
    if not 0 <= pred_score_thr <= 1:
        raise ValueError(f'pred_score_thr must be in [0, 1], got {pred_score_thr}')
    if not isinstance(vis_scale, int) or vis_scale < 1:
        raise ValueError(f'vis_scale must be a positive integer, got {vis_scale!r}')
    scope = _scope_of(inferencer)
    if scope != 'mmdet' and pred_score_thr != 0.3:
        raise ValueError(f'pred_score_thr applies to detection only, not to '
                         f'{TOOLBOXES[scope]["task"]}')
    if show:
        from .visualization import has_display
        if not has_display():
            raise RuntimeError('show=True opens a window, but this machine has no display '
                               '(DISPLAY / WAYLAND_DISPLAY is not set); use out_dir instead')
    draw = bool(out_dir) or show
    stem = osp.splitext(osp.basename(image))[0]
    vis_dir = osp.join(out_dir, 'vis') if out_dir else None
    if out_dir:
        os.makedirs(vis_dir, exist_ok=True)
        os.makedirs(osp.join(out_dir, 'preds'), exist_ok=True)
    classes = _classes(inferencer, scope)
    result = dict(task=TOOLBOXES[scope]['task'], image=image, vis_file=None, pred_file=None)

    if scope == 'mmpretrain':
        # ImageClassificationInferencer draws by itself, enlarged by rescale_factor
        pred = _jsonable(inferencer(image, show=show, wait_time=wait_time,
                                    show_dir=vis_dir if draw else None,
                                    rescale_factor=float(vis_scale) if vis_scale != 1 else None)[0])
        if out_dir:
            result['vis_file'] = osp.join(vis_dir, f'{stem}.png')
    else:
        if draw and inferencer.visualizer is None:
            raise _visualizer_error(scope)
        # The Inferencer predicts; its visualizer draws, as the Inferencer's own visualize()
        # does, on the image enlarged vis_scale times.
        if scope == 'mmdet':
            sample = inferencer(image, return_datasamples=True, no_save_vis=True,
                                no_save_pred=True)['predictions'][0]
            pred = _jsonable(inferencer.pred2dict(sample))
            if classes is not None:
                pred['label_names'] = [classes[i] for i in pred['labels']]
            pred['pred_score_thr'] = pred_score_thr
            draw_args = dict(pred_score_thr=pred_score_thr)
        else:
            sample = inferencer(image, return_datasamples=True)  # one image: the sample itself
            sem_seg = sample.pred_sem_seg.data[0].cpu().numpy()
            ids, counts = np.unique(sem_seg, return_counts=True)
            names = classes or [str(i) for i in range(int(ids.max()) + 1)]
            pred = dict(shape=list(sem_seg.shape), classes=names,
                        pixels_per_class={names[i]: int(n) for i, n in zip(ids, counts)},
                        sem_seg_file=None)
            if out_dir:
                from PIL import Image
                pred['sem_seg_file'] = osp.join(out_dir, 'preds', f'{stem}.png')
                Image.fromarray(sem_seg.astype(np.uint8)).save(pred['sem_seg_file'])
            meta = dict(inferencer.model.dataset_meta or {})
            if meta.get('classes') and not meta.get('palette'):
                # a checkpoint with class names but no colours: mmseg would pair the names
                # with Cityscapes' 19 colours and fail; give each class a fixed colour
                rng = np.random.default_rng(0)
                meta['palette'] = rng.integers(0, 256, (len(meta['classes']), 3)).tolist()
            inferencer.visualizer.set_dataset_meta(classes=meta.get('classes'),
                                                   palette=meta.get('palette'))
            inferencer.visualizer.alpha = 0.8  # MMSegInferencer's default opacity
            draw_args = dict(with_labels=True)
        if draw:
            import mmcv
            img = mmcv.imread(image, channel_order='rgb')
            if vis_scale != 1:
                img = img.repeat(vis_scale, 0).repeat(vis_scale, 1)
                sample = _enlarge(sample, vis_scale)
            if out_dir:
                result['vis_file'] = osp.join(vis_dir, osp.basename(image))
            inferencer.visualizer.add_datasample(
                osp.basename(image), img, sample, draw_gt=False, show=show,
                wait_time=wait_time, out_file=result['vis_file'], **draw_args)

    result['prediction'] = pred
    if out_dir:
        result['pred_file'] = osp.join(out_dir, 'preds', f'{stem}.json')
        with open(result['pred_file'], 'w') as f:
            json.dump(dict(image=image, task=result['task'], **pred), f)
    return result
