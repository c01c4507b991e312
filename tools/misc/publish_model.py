"""Publish a trained model into mmbnn's model zoo (OpenMMLab's ``publish_model.py``, for 1-bit
models).

    python tools/misc/publish_model.py CONFIG CHECKPOINT
        [--results-json FILE [--key KEY] [--seed S]] [--dataset NAME] [--split NAME]
        [--collection NAME] [--date YYYYMMDD] [--summary-shape H [W]] [--no-verify]
        [--index FILE] [--release-dir DIR]

Writes ``mmbnn/zoo/weights/<model-name>_<yyyymmdd>-<sha256[:8]>.pth`` (the binary layers packed
to bits, no optimizer or message hub; the model's earlier file is replaced) and the model's
metafile entry: ``Weights`` (relative to the zoo base URL), ``Metadata: Weights SHA256`` and
``Results`` (metric, data set, split, images). The result is measured, never typed: the file is
evaluated as a user would, ``tools/test.py CONFIG mmbnn://NAME`` (single-threaded), and with
``--results-json`` (an experiment result, e.g. from ``tools/analysis/compare_digits.py
--work-dir DIR --json FILE``) it must agree with the run that trained CHECKPOINT within the
metric's tolerance (``python tools/misc/zoo.py verify`` checks the same). A config the index
does not list gets an entry (``--dataset`` names its data; the summary's counts are added) and,
if needed, a metafile listed in ``model-index.yml``. See :mod:`mmbnn.zoo.publish`.
"""
import argparse
import sys

from mmbnn.zoo.publish import PublishError, publish_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('--results-json', metavar='FILE',
                        help='experiment result (mmbnn.experiment/1) with the run that trained '
                        'CHECKPOINT; its result must reproduce')
    parser.add_argument('--key', help='the run\'s row key, when its checkpoint field is not '
                        'CHECKPOINT (with --results-json)')
    parser.add_argument('--seed', type=int, help='the run\'s seed (with --results-json)')
    parser.add_argument('--dataset', help='Training Data of a model the index does not list yet')
    parser.add_argument('--split', help='name of the evaluation split (default: from the config)')
    parser.add_argument('--collection', help='In Collection of a new entry (default: that of '
                        'the closest model name)')
    parser.add_argument('--date', help='yyyymmdd in the file name (default: today, UTC)')
    parser.add_argument('--summary-shape', type=int, nargs='+', metavar='N',
                        help='input size (H, H W or C H W) for a new entry\'s counts (default: '
                        'from the config\'s test pipeline, as tools/analysis/summary.py)')
    parser.add_argument('--no-verify', action='store_true',
                        help='take the result from --results-json without re-measuring')
    parser.add_argument('--index', help='model-index.yml to write (default: mmbnn\'s)')
    parser.add_argument('--release-dir', help='release folder (default: mmbnn/zoo/weights)')
    args = parser.parse_args(argv)
    if (args.key is not None or args.seed is not None) and not args.results_json:
        parser.error('--key and --seed pick a run of --results-json')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        return publish_model(
            args.config, args.checkpoint, index=args.index, release_dir=args.release_dir,
            results_json=args.results_json, run_key=args.key, seed=args.seed,
            dataset=args.dataset, split=args.split, collection=args.collection, date=args.date,
            verify=not args.no_verify, summary_shape=args.summary_shape)
    except PublishError as e:
        sys.exit(f'publish_model: {e}')


if __name__ == '__main__':
    main()
