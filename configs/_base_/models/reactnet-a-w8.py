# ReActNet-A at a quarter of its width for small images: ./reactnet-a.py with its 13 blocks
# (stem 8 channels, blocks of 16 ... 256), a stride-1 stem and the last block pair at stride 1
# (8x8 digits end at 1x1), 10 classes.
_base_ = ['./reactnet-a.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            stem_channels=8,
            blocks=((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1),
                    (128, 1), (128, 1), (128, 1), (256, 1), (256, 1))),
        stem_stride=1),
    head=dict(num_classes=10, in_channels=256, topk=(1, )))
