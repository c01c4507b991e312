# Group-Net ResNet-50 with K=5 binary bases (binary bottlenecks), ImageNet; otherwise as
# groupnet-r18-5b. Feature dim 2048.
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

model = dict(backbone=dict(depth=50), head=dict(in_channels=2048))
