# Group-Net with soft connections between groups + BPAC on PASCAL VOC 2012 aug: as the -bpac
# config, with soft_gate=True (base k of a group takes sigmoid(g_k) * its own previous output +
# (1 - sigmoid(g_k)) * the aggregated one; no gate into stage 1).
_base_ = './deeplabv3_groupnet-r18-5b-bpac-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(backbone=dict(soft_gate=True))
