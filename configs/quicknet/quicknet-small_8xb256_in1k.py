# QuickNetSmall (larq-zoo, sota/quicknet.py) on ImageNet with larq-zoo's recipe, as
# quicknet_8xb256_in1k.py (TrainQuickNetSmall inherits TrainQuickNet).
_base_ = ['./quicknet_8xb256_in1k.py']

model = dict(backbone=dict(arch='small'))
