# Binary FCOS with Group-Net: ResNet-18, K=5 bases, 1x on COCO; stage 2 of Group-Net's two-stage
# recipe. Its stage 1 is configs/fcos/fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py (the same
# K-base detector with tanh activations and real weights, from torchvision's ResNet-18); this
# config loads that run's last checkpoint (load_from), binarizes it and fine-tunes it:
#   python tools/train.py configs/fcos/fcos_groupnet-r18-5b_stage1-tanh_fpn_1x_coco.py
#   python tools/train.py configs/fcos_groupnet.py
# The variants (K, ResNet-34/50, each with its stage 1) and the full-precision reference live in
# configs/fcos/ (see configs/fcos/README.md).
_base_ = './fcos/fcos_groupnet-r18-5b_fpn_1x_coco.py'
