# BinaryAlexNet at a quarter of its width (../_base_/models/binary-alexnet-w16.py) on MNIST-5k,
# its classifier sized for 28x28 images.
_base_ = ['../_base_/models/binary-alexnet-w16.py', './_base_mnist.py']

model = dict(backbone=dict(input_size=28))
