# BinaryAlexNet at a quarter of its width for small images: ./binary-alexnet.py with convs of
# 16 / 48 / 96 / 96 / 64 channels (3x3 and 5x5 kernels, stride 1), max-pools after the second
# and fifth blocks, hidden layers of 1024, 10 classes; input_size 8 (the digits; set it for others).
_base_ = ['./binary-alexnet.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            convs=((16, 3, 1, False), (48, 5, 1, True), (96, 3, 1, False), (96, 3, 1, False),
                   (64, 3, 1, True)),
            hidden=(1024, 1024)),
        num_classes=10,
        input_size=8),
    head=dict(topk=(1, )))
