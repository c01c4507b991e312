# ReActNet-A, step 1 of the official two-step recipe (mobilenet/1_step1/run.sh): binary
# activations (RSign), REAL weights, weight decay 1e-5 on the conv weights; otherwise as
# reactnet-a_8xb32_in1k.py (distribution loss from ResNet-34, Adam 1.25e-3, 128 epochs, linear
# decay). Step 2 (reactnet-a_step2_8xb32_in1k.py) starts from its last checkpoint.
_base_ = ['./reactnet-a_8xb32_in1k.py']

model = dict(student=dict(backbone=dict(conv_cfg=dict(weight_binarizer=None))))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-5))
