# Sparse IR-Net ResNet-18 on CIFAR-10, a budget of 5 % active binary weights (gamma 0.07, the
# official value at EC 0.05, chosen by mmbnn.SparseBudgetLoss from the EC); else as the EC 0.1 file.
_base_ = ['./sbnn-irnet-r18-ec10_1xb512_cifar10.py']

model = dict(backbone=dict(conv_cfg=dict(weight_binarizer=dict(ec=0.05))))
