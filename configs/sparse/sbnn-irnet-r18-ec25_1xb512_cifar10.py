# Sparse IR-Net ResNet-18 on CIFAR-10, 25 % of the binary weights active (else as the EC 0.1 file).
_base_ = ['./sbnn-irnet-r18-ec10_1xb512_cifar10.py']

model = dict(backbone=dict(conv_cfg=dict(weight_binarizer=dict(ec=0.25))))
