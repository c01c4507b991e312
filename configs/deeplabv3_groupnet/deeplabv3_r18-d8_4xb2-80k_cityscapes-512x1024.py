# Full-precision reference on Cityscapes: mmseg's DeepLabV3 ResNetV1c-18 (output stride 8),
# 512x1024 crops, 80k iterations, unchanged (mmseg reports 76.70 mIoU for it).
_base_ = 'mmseg::deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py'
