# Real-to-Binary's losses on Bi-Real Net-18 (width 16, digits) against the full-precision
# ResNet-18: cross-entropy, the distributional loss on the logits, and attention transfer at the
# end of each of the four stages (normalised spatial attention maps sum_c |A_c|^2, L2 norm of
# their difference). The student's stages return (x, own bases): '[0]' takes x. Teacher chain as
# kd_resnet18-w16_birealnet-r18-w16_1xb64_digits.py.
_base_ = ['./kd_resnet18-w16_birealnet-r18-w16_1xb64_digits.py']

model = dict(
    distill_losses=dict(
        loss_at=dict(
            type='mmbnn.AttentionTransferLoss', p=2, loss_weight=1.0,
            student=[f'backbone.layer{i}[0]' for i in (1, 2, 3, 4)],
            teacher=[f'backbone.layer{i}' for i in (1, 2, 3, 4)])))
