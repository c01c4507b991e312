# Group-Net ResNet-18 (width 16), K=1 (a single binary network with Group-Net's block), MNIST-5k.
_base_ = ['./groupnet-r18-w16-5b_1xb64_mnist5k.py']

model = dict(backbone=dict(num_bases=1))
