# IR-Net ResNet-18 (width 16, CIFAR stem): ../_base_/models/irnet-r18.py on MNIST-5k (EDE sign
# activations, Libra-PB weights with the EDE gradient annealed once per epoch by mmbnn.EDEHook;
# binary conv -> BN -> add, avgpool + real downsample).
_base_ = ['../_base_/models/irnet-r18.py', './_base_mnist.py']

model = dict(
    backbone=dict(stem='cifar', stem_channels=16, base_channels=16),
    head=dict(num_classes=10, in_channels=128, topk=(1, )))
