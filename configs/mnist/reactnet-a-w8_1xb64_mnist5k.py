# ReActNet-A at a quarter of its width (../_base_/models/reactnet-a-w8.py) on MNIST-5k, with the
# MNIST-5k recipe (no distillation).
_base_ = ['../_base_/models/reactnet-a-w8.py', './_base_mnist.py']
