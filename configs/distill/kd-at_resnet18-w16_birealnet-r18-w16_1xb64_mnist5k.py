# Real-to-Binary's losses on Bi-Real Net-18 (width 16, MNIST-5k) against the full-precision
# ResNet-18, as kd-at_resnet18-w16_birealnet-r18-w16_1xb64_digits.py: cross-entropy, the
# distributional loss on the logits and attention transfer at the end of the four stages.
_base_ = ['./kd_resnet18-w16_birealnet-r18-w16_1xb64_mnist5k.py']

model = dict(
    distill_losses=dict(
        loss_at=dict(
            type='mmbnn.AttentionTransferLoss', p=2, loss_weight=1.0,
            student=[f'backbone.layer{i}[0]' for i in (1, 2, 3, 4)],
            teacher=[f'backbone.layer{i}' for i in (1, 2, 3, 4)])))
