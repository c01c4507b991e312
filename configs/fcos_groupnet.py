# Binary FCOS with Group-Net: ResNet-18, K=5 bases, 1x on COCO. The variants (K, ResNet-34/50)
# and the full-precision reference live in configs/fcos/ (see configs/fcos/README.md).
_base_ = './fcos/fcos_groupnet-r18-5b_fpn_1x_coco.py'
