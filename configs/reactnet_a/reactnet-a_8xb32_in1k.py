# ReActNet-A (Liu et al., ECCV 2020) on ImageNet with the official code's recipe
# (liuzechun/ReActNet, mobilenet/2_step2): distillation from a real ResNet-34 teacher by the
# distribution loss alone (KL between the teacher's and the student's softmax; no cross-entropy),
# Adam lr 1.25e-3 at batch 256, no weight decay, 128 epochs with the learning rate decaying
# linearly to 0, RandomResizedCrop(224, scale 0.08-1) + lighting noise 0.1 + flip.
# This file trains the binary network in one step; the paper's two steps are
# reactnet-a_step1_8xb32_in1k.py (binary activations, real weights) then
# reactnet-a_step2_8xb32_in1k.py (binary weights too, from step 1's weights).
_base_ = [
    '../_base_/models/reactnet-a.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    _delete_=True,
    type='mmbnn.SingleTeacherDistiller',
    student={{_base_.model}},
    # the official code's teacher: an ImageNet ResNet-34 (torchvision's there, mmpretrain's here)
    teacher=dict(
        config='mmpretrain::resnet/resnet34_8xb32_in1k.py',
        checkpoint='https://download.openmmlab.com/mmclassification/v0/resnet/'
        'resnet34_8xb32_in1k_20210831-f257d4e6.pth'),
    with_student_loss=False,
    distill_losses=dict(
        loss_kd=dict(type='mmbnn.DistributionLoss', student='head.fc', teacher='head.fc')))

# lighting noise (the official code's Lighting(0.1)); eigen values and vectors in BGR order,
# for 0-255 pixels, as mmpretrain's ResNeSt configs
EIGVAL = [55.4625, 4.7940, 1.1475]
EIGVEC = [[-0.5836, -0.6948, 0.4203], [-0.5808, -0.0045, -0.8140], [-0.5675, 0.7192, 0.4009]]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(type='Lighting', eigval=EIGVAL, eigvec=EIGVEC, alphastd=0.1, to_rgb=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# Adam on every parameter; the official code decays only the conv weights (4-d tensors), and by 0
# in this step (1e-5 in step 1).
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1.25e-3, weight_decay=0),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.,
                       custom_keys={'prelu': dict(decay_mult=0.),
                                    'head.fc': dict(decay_mult=0.)}))
param_scheduler = dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
                       begin=0, end=128)
train_cfg = dict(by_epoch=True, max_epochs=128, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
