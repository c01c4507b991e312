"""Saved-for-backward memory and step time of a binary ResNet-18: mmbnn's binarizer vs a naive one.

mmbnn's clipped straight-through sign (:class:`mmbnn.binarizers.STESign`) saves for backward only
what its surrogate gradient needs, the boolean mask ``|x| <= clip`` (1 byte per element). The
naive implementation defined here saves the float input ``x`` (4 bytes per element) and computes
the mask in backward. Both give the same forward and the same gradients; this tool checks that,
then prints side by side:

* the bytes saved for backward by the activation binarizers, counted in one training forward with
  :func:`torch.autograd.graph.saved_tensors_hooks` (unique storages, parameters left out);
* the part of those bytes that only the binarizers keep (storages no other op saves as well: in a
  ResNet whose blocks end with ``ReLU(inplace=True)`` the ReLU saves the very tensor the naive
  binarizer saves, so that tensor costs nothing extra);
* the bytes saved by the whole training step (every op, unique storages, parameters left out);
* the median time of a training step (forward, cross-entropy, backward, SGD step), the two models
  timed in alternation (AB, then BA, ...) so that a noisy machine penalises neither
  (:func:`mmbnn.analysis.timing.time_interleaved`), as wall time and as CPU time of the process;
  the ratio column gives the median of the ratios of the two steps of each round, which a load
  that comes and goes disturbs less than the ratio of the medians;
* the median time of the activation binarizer alone (forward and backward) on a tensor of the
  shape of the first stage's activations, timed the same way.

The model is Bi-Real Net-18 built from mmbnn's ``GroupNetResNet`` (K = 1, a real-valued shortcut
around every binary conv, no ReLU: the sign is the non-linearity), with a real stem, real
avg-pool downsample shortcuts and a real ``nn.Linear`` head. (In mmpretrain's ResNet with a
binary ``conv_cfg`` every binarizer input follows a ReLU, so every binary activation is +1 and
the ReLU already saves the float tensor; a Bi-Real-style block is the meaningful case.)

Example::

    python tools/analysis/bench_binarizers.py --batch-size 16 --shape 64 64 --steps 10
"""
import argparse
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import Function

from mmbnn.analysis.timing import device_synchronizer, median_ratio, time_interleaved
from mmbnn.binarizers import ActivationBinarizer, STESign, WeightBinarizer
from mmbnn.binarizers.functional import sign


class _NaiveClippedSTESign(Function):
    """The naive clipped STE: q(x) = sign(x), dq/dx = 1 where |x| <= clip; saves the float x."""

    @staticmethod
    def forward(ctx, x, clip_value):
        ctx.save_for_backward(x)
        ctx.clip_value = clip_value
        return sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * (x.abs() <= ctx.clip_value), None


class NaiveSTESign(ActivationBinarizer):
    """``STESign``'s forward and gradient, saving the float input for backward (the baseline).

    Not registered: the configs below pass the class itself as ``type``.
    """

    def __init__(self, clip_value: float = 1.0):
        super().__init__()
        self.clip_value = clip_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NaiveClippedSTESign.apply(x, self.clip_value)


def build_model(act_type, num_classes: int = 1000) -> nn.Module:
    """Bi-Real Net-18 (real stem, real avg-pool downsample, real head) with ``act_type`` as the
    activation binarizer of its 16 binary 3x3 convs."""
    from mmbnn.models.backbones import GroupNetResNet
    conv_cfg = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type=act_type),
                    weight_binarizer=dict(type='XNORWeight'))
    backbone = GroupNetResNet(depth=18, num_bases=1, conv_cfg=conv_cfg, order=('norm', 'add'),
                              act_cfg=None, downsample='avgpool')
    return _Classifier(backbone, nn.AdaptiveAvgPool2d(1), nn.Linear(512, num_classes))


class _Classifier(nn.Module):
    """backbone -> pooling -> linear head on the last stage (the backbone gives a tuple)."""

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(x)[-1]).flatten(1))


class SavedTensorMeter:
    """Records, during a forward, the storages autograd saves for backward, tagged by module kind.

    A forward pre-hook and a forward hook on every binarizer module set the tag that the pack hook
    attaches to what it sees; storages are keyed by their data pointer, so a storage saved by
    several ops (or several views of one storage) is counted once. Parameters' storages are left
    out: they are alive whatever backward needs.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.tag = 'other'
        self.storages = {}  # data_ptr -> (nbytes, set of tags)
        self.param_ptrs = {p.untyped_storage().data_ptr()
                           for p in list(model.parameters()) + list(model.buffers())}

    def _pack(self, t: torch.Tensor):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self.param_ptrs:
            nbytes, tags = self.storages.setdefault(ptr, (storage.nbytes(), set()))
            tags.add(self.tag)
        return t

    @staticmethod
    def _unpack(t):
        return t

    @contextmanager
    def record(self):
        handles = []
        for m in self.model.modules():
            if isinstance(m, (ActivationBinarizer, WeightBinarizer)):
                tag = 'act_binarizer' if isinstance(m, ActivationBinarizer) else 'weight_binarizer'
                handles.append(m.register_forward_pre_hook(
                    lambda mod, args, tag=tag: setattr(self, 'tag', tag)))
                handles.append(m.register_forward_hook(
                    lambda mod, args, out: setattr(self, 'tag', 'other')))
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack):
                yield self
        finally:
            for h in handles:
                h.remove()

    def bytes(self, tag=None, only=False) -> int:
        """Bytes of the storages saved (by ops tagged ``tag`` if given; ``only``: by no others)."""
        total = 0
        for nbytes, tags in self.storages.values():
            if tag is None or (tags == {tag} if only else tag in tags):
                total += nbytes
        return total


def train_step(model, optimizer, x, target):
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), target)
    loss.backward()
    optimizer.step()
    return loss


def measure_saved(model, x, target) -> dict:
    """Saved bytes of one training forward, and the fraction of binary activations that are -1."""
    meter = SavedTensorMeter(model)
    counts = torch.zeros(2, dtype=torch.long)

    def count(mod, args, out):
        counts[0] += int((out < 0).sum())
        counts[1] += out.numel()

    handles = [m.register_forward_hook(count) for m in model.modules()
               if isinstance(m, ActivationBinarizer)]
    with meter.record():
        loss = F.cross_entropy(model(x), target)
    for h in handles:
        h.remove()
    loss.backward()  # runs the unpack hooks and frees the graph
    model.zero_grad(set_to_none=True)
    return dict(act=meter.bytes('act_binarizer'),
                act_only=meter.bytes('act_binarizer', only=True),
                total=meter.bytes(), negative=(counts[0] / counts[1]).item())


def binarizer_step(binarizer, x, grad):
    binarizer(x).backward(grad)
    x.grad = None


def check_same(model_a, model_b, x, target):
    """Same loss and same gradients for the same input; returns (loss diff, max grad diff)."""
    losses, grads = [], []
    for model in (model_a, model_b):
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), target)
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.detach().clone() for p in model.parameters()])
        model.zero_grad(set_to_none=True)
    loss_diff = (losses[0] - losses[1]).abs().item()
    grad_diff = max((ga - gb).abs().max().item() for ga, gb in zip(*grads))
    return loss_diff, grad_diff


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--shape', type=int, nargs=2, default=[64, 64], metavar=('H', 'W'),
                        help='input height and width')
    parser.add_argument('--steps', type=int, default=10, help='timed steps per model')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per model')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s default)')
    parser.add_argument('--num-classes', type=int, default=1000)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    torch.backends.cudnn.deterministic = True  # for the equality check on GPU

    ours = build_model('STESign', args.num_classes)
    naive = build_model(NaiveSTESign, args.num_classes)
    naive.load_state_dict(ours.state_dict())
    ours.to(device).train()
    naive.to(device).train()
    models = {'naive': naive, 'mmbnn': ours}
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
                  for k, m in models.items()}

    x = torch.randn(args.batch_size, 3, *args.shape, device=device)
    target = torch.randint(0, args.num_classes, (args.batch_size,), device=device)

    # The same forward and the same surrogate: losses and gradients must match exactly.
    loss_diff, grad_diff = check_same(naive, ours, x, target)
    same = loss_diff == 0 and grad_diff == 0
    print(f'same loss and gradients: {same} (|loss diff| = {loss_diff:.3g}, '
          f'max |grad diff| = {grad_diff:.3g})')

    saved = {k: measure_saved(m, x, target) for k, m in models.items()}

    sync = device_synchronizer(device)
    step_times = time_interleaved(
        {k: partial(train_step, m, optimizers[k], x, target) for k, m in models.items()},
        repeats=args.steps, warmup=args.warmup, sync=sync)
    # The binarizer alone, on a tensor shaped like the first stage's input activations.
    act_shape = (args.batch_size, 64, args.shape[0] // 4, args.shape[1] // 4)
    act = torch.randn(act_shape, device=device, requires_grad=True)
    act_grad = torch.randn(act_shape, device=device)
    binarizers = {'naive': NaiveSTESign(), 'mmbnn': STESign()}
    binarizer_times = time_interleaved(
        {k: partial(binarizer_step, b, act, act_grad) for k, b in binarizers.items()},
        repeats=10 * args.steps, warmup=5, sync=sync)

    mb = 1 / 2**20
    rows = [('saved MB, activation binarizers', 'act', mb),
            ('saved MB, kept only by the act. binarizers', 'act_only', mb),
            ('saved MB, whole step (parameters excluded)', 'total', mb)]
    print(f'\nBi-Real Net-18, batch {args.batch_size}, '
          f'input {args.shape[0]}x{args.shape[1]}, {torch.get_num_threads()} threads, '
          f'{args.device}, median of {args.steps} steps after {args.warmup} warm-up')
    header = f'{"":<56}{"naive":>10}{"mmbnn":>10}{"naive/mmbnn":>13}'
    print(header)
    print('-' * len(header))

    def row(label, a, b, ratio=None):
        if ratio is None:
            ratio = a / b if b else (float('nan') if not a else float('inf'))
        print(f'{label:<56}{a:>10.2f}{b:>10.2f}{ratio:>12.2f}x')

    def time_row(label, times, clock):
        row(label, *(1000 * times[k].median(clock) for k in ('naive', 'mmbnn')),
            ratio=median_ratio(times['naive'], times['mmbnn'], clock))

    for label, key, scale in rows:
        row(label, saved['naive'][key] * scale, saved['mmbnn'][key] * scale)
    time_row('step time ms (fwd + bwd + SGD), wall', step_times, 'wall')
    time_row('step time ms (fwd + bwd + SGD), process CPU', step_times, 'process')
    shape = 'x'.join(map(str, act_shape))
    time_row(f'act. binarizer fwd+bwd ms, {shape}, wall', binarizer_times, 'wall')
    time_row(f'act. binarizer fwd+bwd ms, {shape}, process CPU', binarizer_times, 'process')
    print(f'\nbinary activations equal to -1: {100 * saved["mmbnn"]["negative"]:.1f}%'
          + (' (every binarizer input follows a ReLU: the signs carry no information)'
             if saved['mmbnn']['negative'] == 0 else ''))
    if not same:
        raise SystemExit('naive and mmbnn binarizers disagree')


if __name__ == '__main__':
    main()
