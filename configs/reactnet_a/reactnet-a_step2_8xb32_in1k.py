# ReActNet-A, step 2 of the official two-step recipe (mobilenet/2_step2/run.sh): binary weights
# and activations, initialised from step 1's last checkpoint, no weight decay; the recipe of
# reactnet-a_8xb32_in1k.py. The paper's 69.4% top-1 is this step's result.
_base_ = ['./reactnet-a_8xb32_in1k.py']

load_from = 'work_dirs/reactnet-a_step1_8xb32_in1k/epoch_128.pth'
