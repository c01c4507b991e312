# Group-Net's recipe, stage 2 of 2 (official code, finetune.py): binarize (the model of
# groupnet-r18-5b_8xb32_in1k.py) and fine-tune from the stage-1 tanh model: Adam lr 5e-4, no
# weight decay, 40 epochs, x0.1 at 20 and 30, batch 256. Train stage 1 first with its default
# work dir:
#   python tools/train.py configs/groupnet/groupnet-r18-5b_stage1-tanh_8xb32_in1k.py
#   python tools/train.py configs/groupnet/groupnet-r18-5b_stage2-binary_8xb32_in1k.py
# (or point load_from elsewhere with --cfg-options load_from=...).
_base_ = ['./groupnet-r18-5b_8xb32_in1k.py']

load_from = 'work_dirs/groupnet-r18-5b_stage1-tanh_8xb32_in1k/epoch_40.pth'
