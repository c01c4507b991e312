"""Run a binary detector, segmentor or classifier on one image and draw its prediction.

    python demo/image_demo.py IMAGE CONFIG --weights CHECKPOINT_OR_mmbnn://NAME --out-dir DIR
                              [--device cpu] [--pred-score-thr 0.3] [--vis-scale N] [--1bit]
                              [--show [--wait-time S]]

The toolbox comes from the config's ``default_scope``: mmdet's ``DetInferencer``, mmseg's
``MMSegInferencer`` or mmpretrain's ``ImageClassificationInferencer`` runs the model, and the
toolbox's visualizer draws the prediction. Written: ``DIR/vis/`` (the picture) and
``DIR/preds/IMAGE_STEM.json`` (the prediction; for a segmentor also the label map
``DIR/preds/IMAGE_STEM.png``). ``--1bit`` runs the model converted to real 1-bit inference by
``mmbnn.deploy.convert``. The same from Python: :func:`mmbnn.apis.init_inferencer` and
:func:`mmbnn.apis.inference_model`.
"""
import argparse
import json

from mmbnn.apis import has_display, inference_model, init_inferencer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw a model\'s prediction on one image')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='config file (mmdet, mmseg or mmpretrain)')
    parser.add_argument('--weights', required=True,
                        help='checkpoint file or mmbnn://MODEL-NAME (the model zoo)')
    parser.add_argument('--out-dir', default='outputs',
                        help='where vis/ and preds/ go (default: outputs)')
    parser.add_argument('--device', default=None,
                        help="'cpu', 'cuda:0', ... (default: a GPU if there is one)")
    parser.add_argument('--pred-score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this (default: 0.3)')
    parser.add_argument('--vis-scale', type=int, default=1,
                        help='draw on the image enlarged N times, for small images (default: 1)')
    parser.add_argument('--1bit', dest='one_bit', action='store_true',
                        help='run the model converted to real 1-bit inference '
                        '(mmbnn.deploy.convert)')
    parser.add_argument('--show', action='store_true', help='also show it in a window')
    parser.add_argument('--wait-time', type=float, default=0,
                        help='seconds the window stays with --show (0: until closed)')
    args = parser.parse_args(argv)
    if args.show and not has_display():
        parser.error('--show opens a window, but this machine has no display (DISPLAY / '
                     'WAYLAND_DISPLAY is not set); the picture is saved under --out-dir')
    return args


def main(argv=None):
    args = parse_args(argv)
    inferencer = init_inferencer(args.config, args.weights, device=args.device,
                                 one_bit=args.one_bit)
    result = inference_model(inferencer, args.image, out_dir=args.out_dir,
                             pred_score_thr=args.pred_score_thr, vis_scale=args.vis_scale,
                             show=args.show, wait_time=args.wait_time)
    pred = result['prediction']
    if result['task'] == 'detection':
        kept = [i for i, s in enumerate(pred['scores']) if s >= args.pred_score_thr]
        names = pred.get('label_names') or [str(x) for x in pred['labels']]
        print(f'{len(kept)} boxes with score >= {args.pred_score_thr}:')
        for i in kept:
            box = ', '.join(f'{v:.1f}' for v in pred['bboxes'][i])
            print(f'  {names[i]:<12} {pred["scores"][i]:.3f}  [{box}]')
    elif result['task'] == 'classification':
        print(f'{pred.get("pred_class", pred["pred_label"])}: {pred["pred_score"]:.3f}')
    else:
        print('pixels per class: ' + json.dumps(pred['pixels_per_class']))
    print(f'drawn: {result["vis_file"]}\nprediction: {result["pred_file"]}')
    return result


if __name__ == '__main__':
    main()
