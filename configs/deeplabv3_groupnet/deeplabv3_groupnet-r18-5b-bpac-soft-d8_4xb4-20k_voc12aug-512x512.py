# Group-Net with soft connections between groups + BPAC on PASCAL VOC 2012 aug: as the -bpac
# config, with soft_gate=True (base k of a group takes sigmoid(g_k) * its own previous output +
# (1 - sigmoid(g_k)) * the aggregated one; no gate into stage 1). Stage 2 of 2: binarizes and
# fine-tunes the last checkpoint of
# deeplabv3_groupnet-r18-5b-bpac-soft-d8_stage1-tanh_4xb4-20k_voc12aug-512x512.py.
_base_ = './deeplabv3_groupnet-r18-5b-bpac-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(backbone=dict(soft_gate=True))
load_from = ('work_dirs/deeplabv3_groupnet-r18-5b-bpac-soft-d8_stage1-tanh_4xb4-20k_'
             'voc12aug-512x512/iter_20000.pth')
