# Group-Net ResNet-18, K=5, every base initialised from torchvision's full-precision ResNet-18
# (downloaded on first use), then trained binary with the binary-stage schedule: a one-stage
# alternative to the tanh stage. The classifier (head) starts from scratch.
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')))
