# A Group-Net ResNet-18 classifier (K=3) for converter and tool tests.
_base_ = ['./tiny_cls.py']
model = dict(
    backbone=dict(_delete_=True, type='mmbnn.GroupNetResNet', depth=18, num_bases=3),
    head=dict(num_classes=1000, in_channels=512))
