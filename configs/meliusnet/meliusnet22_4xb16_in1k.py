# MeliusNet22 on ImageNet. larq-zoo ships no training recipe for it; this is the authors' own
# (BMXNet-v2, as logged for MeliusNet42 in their wiki: RAdam lr 2e-3, cosine to 0, 120 epochs,
# batch 16 per GPU on 4 GPUs, grouped stem, gradient clipped at 1.3); latent weights clipped to
# [-1.3, 1.3] as larq-zoo's model does.
_base_ = [
    '../_base_/models/meliusnet22.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=16)
optim_wrapper = dict(optimizer=dict(type='RAdam', lr=2e-3, weight_decay=0))
param_scheduler = dict(type='CosineAnnealingLR', T_max=120, eta_min=0, by_epoch=True,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
