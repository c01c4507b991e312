"""Train the digits models (configs/digits/) with the mmengine Runner and compare them.

    python tools/analysis/compare_digits.py [--models KEY ...] [--seeds S ...] [--epochs E]
                                            [--work-dir DIR] [--subset N] [--threads N]
                                            [--json FILE] [--load-json FILE ...]

Every model trains through ``Runner.from_cfg`` at the same number of epochs on scikit-learn's
handwritten digits (:class:`mmbnn.datasets.DigitsDataset`: 1437 train / 360 test images) and is
tested once on the test split. The table gives, per model, the top-1 accuracy (mean ± standard
deviation over the seeds, then every seed's), the counts of :func:`mmbnn.analysis.summarize` at
the configs' input size (BOPs: binary MACs; FLOPs: real MACs; OPs = BOPs / 64 + FLOPs; size with
1-bit weights as bits), and the CPU seconds of training. The harness, its options and its JSON
format: :mod:`mmbnn.analysis.experiment`. With ``--work-dir`` every run keeps its final
checkpoint at ``WORK_DIR/KEY/seedS/final.pth``.
"""
from mmbnn.analysis.experiment import Experiment, Row

EXPERIMENT = Experiment(
    title='scikit-learn digits',
    metric='accuracy/top1',
    metric_name='top-1 (%)',
    rows=[
        Row('fp', 'digits/resnet18-w16_1xb64_digits.py', 'ResNet-18 (full precision)'),
        Row('bnn', 'digits/bnn-r18-w16_1xb64_digits.py', 'BNN ResNet-18'),
        Row('xnor', 'digits/xnornet-r18-w16_1xb64_digits.py', 'XNOR-Net ResNet-18'),
        Row('bireal', 'digits/birealnet-r18-w16_1xb64_digits.py', 'Bi-Real Net-18'),
        Row('reactnet', 'digits/reactnet-r18-w16_1xb64_digits.py', 'ReActNet-style ResNet-18'),
        Row('irnet', 'digits/irnet-r18-w16_1xb64_digits.py', 'IR-Net ResNet-18'),
        Row('groupnet-k1', 'digits/groupnet-r18-w16-1b_1xb64_digits.py',
            'Group-Net ResNet-18, K=1'),
        Row('groupnet-k1-avgpool', 'digits/groupnet-r18-w16-1b_1xb64_digits.py',
            'Group-Net ResNet-18, K=1, avgpool + real downsample',
            {'model.backbone.downsample': 'avgpool'}),
        Row('groupnet-k3', 'digits/groupnet-r18-w16-3b_1xb64_digits.py',
            'Group-Net ResNet-18, K=3'),
        Row('groupnet-k5', 'digits/groupnet-r18-w16-5b_1xb64_digits.py',
            'Group-Net ResNet-18, K=5'),
        Row('groupnet-k3-shift', 'digits/groupnet-r18-w16-3b-shift_1xb64_digits.py',
            'Group-Net ResNet-18, K=3, per-base thresholds'),
        Row('groupnet-k5-shift', 'digits/groupnet-r18-w16-5b-shift_1xb64_digits.py',
            'Group-Net ResNet-18, K=5, per-base thresholds'),
        # issue 26: the architectures users compare against, at a quarter of their width
        Row('reactnet-a', 'digits/reactnet-a-w8_1xb64_digits.py', 'ReActNet-A (1/4 width)'),
        Row('quicknet-small', 'digits/quicknet-small-w8_1xb64_digits.py',
            'QuickNetSmall (1/4 width)'),
        Row('quicknet', 'digits/quicknet-w16_1xb64_digits.py', 'QuickNet (1/4 width)'),
        Row('quicknet-large', 'digits/quicknet-large-w16_1xb64_digits.py',
            'QuickNetLarge (1/4 width)'),
        Row('resnet-e18', 'digits/binary-resnet-e18-w16_1xb64_digits.py',
            'BinaryResNetE18 (1/4 width)'),
        Row('alexnet', 'digits/binary-alexnet-w16_1xb64_digits.py', 'BinaryAlexNet (1/4 width)'),
        Row('r2b', 'digits/r2b-w16_1xb64_digits.py', 'Real-to-Binary Net (1/4 width)'),
        Row('densenet28', 'digits/binary-densenet28-w16_1xb64_digits.py',
            'BinaryDenseNet28 (1/4 width)'),
        Row('densenet37', 'digits/binary-densenet37-w16_1xb64_digits.py',
            'BinaryDenseNet37 (1/4 width)'),
        Row('densenet37-dilated', 'digits/binary-densenet37-dilated-w16_1xb64_digits.py',
            'BinaryDenseNet37Dilated (1/4 width)'),
        Row('densenet45', 'digits/binary-densenet45-w16_1xb64_digits.py',
            'BinaryDenseNet45 (1/4 width)'),
        Row('meliusnet22', 'digits/meliusnet22-w16_1xb64_digits.py', 'MeliusNet22 (1/4 width)'),
    ])

if __name__ == '__main__':
    EXPERIMENT.main()
