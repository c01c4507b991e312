# Bi-Real Net-34, ImageNet: as birealnet-r18, depth 34.
_base_ = ['./birealnet-r18_8xb32_in1k.py']

model = dict(backbone=dict(depth=34), head=dict(in_channels=512))
