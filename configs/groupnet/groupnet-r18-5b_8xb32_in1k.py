# Group-Net ResNet-18 with K=5 binary bases per group (Zhuang et al., CVPR 2019), ImageNet: the
# model of ../_base_/models/groupnet-r18.py (the paper's backbone: group decomposition, learned
# lambda, ApproxSign activations, XNOR weights, +1 padding, binary conv -> ReLU -> BN -> add,
# one binary 1x1 downsample per block shared by the K bases, full-precision stem without ReLU and
# classifier; where it departs from the official code: ../groupnet/README.md). Trained binary from
# random initialisation with Group-Net's binary-stage schedule (Adam lr 5e-4, no weight decay,
# 40 epochs, x0.1 at 20 and 30, batch 8x32 = 256). The paper's recipe is two stages: see
# groupnet-r18-5b_stage1-tanh_8xb32_in1k.py.
_base_ = [
    '../_base_/models/groupnet-r18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/adam-binary_40e.py',
    'mmpretrain::_base_/default_runtime.py',
]
