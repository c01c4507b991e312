"""Time one training step of Group-Net ResNet-18 and Bi-Real Net-18 against the full-precision
ResNet-18 and against a naive Group-Net that loops over K per-base modules; or, with
``--memory``, measure what a step keeps for backward and its peak resident memory.

    python tools/analysis/bench_groupnet.py [--num-bases 5] [--batch-size 8 16] [--threads 1 2]
                                            [--shape 112 112] [--steps 5] [--clock wall]
                                            [--before] [--memory] [--profile]

Speed: for every (threads, batch size) the models are timed side by side in one run,
interleaved (:func:`mmbnn.analysis.timing.time_interleaved`: a load that comes and goes hits
them alike), and the script prints the median step times (forward, cross-entropy, backward, SGD
step) and the ratios: GroupNet / (K x FP) (goal <= 1.15), naive / GroupNet (goal >= 1: ours
never slower than the loop) and Bi-Real / FP (goal <= 1.15). ``--before`` adds the same models
through the reference path of the binary layers
(:func:`~mmbnn.layers.reference_binary_layers`: binarizer modules, then ``F.conv2d`` with the
scaled weight), i.e. as they trained before the fused binary convolution.

The naive reference is the same maths, checked at the start (outputs equal in eval mode): built
from the Group-Net model's own weights, one single-base block (``groups=1``, C channels) per base
and group, run in a Python loop over the K bases and summed with the group's own lambda; a
downsample shared by the K bases is one module that every base calls (as Group-Net's official
code does in its loop over bases); the stem is the model's. It differs only in how the K bases
execute.

Profile (``--profile``): where one thread's time goes in a training step of FP ResNet-18,
Group-Net (K bases) and Bi-Real Net-18 at the first batch size (:data:`STEP_KINDS`,
:func:`mmbnn.analysis.timing.op_shares`): the share of the conv arithmetic (oneDNN's
convolutions forward and backward: the float convs and, inside the fused binary conv, the
products of the +-1 signs), mmbnn's own train ops (binarize, pack, scale), the fused binary
conv's Python, autograd's bookkeeping, BN, the element-wise rest (adds, ReLU, lambda, the
optimizer's updates), pooling and the Python overhead: what a fusion of the element-wise work
could save at most.

Memory (``--memory``): for FP ResNet-18, Group-Net ResNet-18 (K bases) and Bi-Real Net-18, each
through the reference path ("before") and the fused binary layers ("after"), on one fixed batch:
the bytes autograd saves for backward (:class:`mmbnn.analysis.memory.SavedTensorMeter`: unique
storages, parameters and buffers left out) and the peak resident memory of one training step
above what was resident before it (measured in a fresh process per model, after one warm-up
step); then, per binary model, the loss and the gradients after vs before (largest absolute
loss difference, largest difference of any gradient relative to that gradient's largest value).
Differences beyond float rounding come from ReLUs right after a binary conv (Group-Net's unit):
the fused conv's integer sums are exactly 0 where the +-1 products cancel, the reference's sums
of scaled weights leave a rounding residue there, and the two take different sides of the kink.
"""
import argparse
import json
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch import nn

from mmbnn.analysis.timing import median_ratio, time_interleaved
from mmbnn.layers import reference_binary_layers
from mmbnn.models.backbones import BinaryBasicBlock, GroupNetResNet

BIREAL = dict(num_bases=1, downsample='avgpool', act_cfg=None, order=('norm', 'add'),
              conv_cfg=dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                            weight_binarizer=dict(type='XNORWeight')))


def single_state(block: nn.Module, k: int, b: int, shared_downsample: bool) -> dict:
    """Base ``b``'s slice of a grouped block's state dict (rows of dim 0; dim 1 of per-channel
    binarizer parameters shaped (1, C, 1, 1)); the shared downsample and lambda left out."""
    state = {}
    for key, value in block.state_dict().items():
        if key.startswith('aggregate.') or (shared_downsample and key.startswith('downsample.')):
            continue
        if value.dim() == 0:
            state[key] = value
        elif value.dim() == 4 and value.shape[0] == 1:
            n = value.shape[1] // k
            state[key] = value[:, b * n:(b + 1) * n]
        else:
            n = value.shape[0] // k
            state[key] = value[b * n:(b + 1) * n]
    return state


def split_block(block: BinaryBasicBlock, k: int) -> nn.ModuleList:
    """K single-base copies of a grouped Group-Net basic block (weights sliced per base; a shared
    downsample is the same module in every copy)."""
    conv = block.conv1
    conv_cfg = dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                    weight_binarizer=dict(type='XNORWeight'), pad_value=conv.pad_value)
    for m in (block.conv1, block.conv2):
        if (type(m.act_binarizer).__name__, type(m.weight_binarizer).__name__) != (
                'ApproxSign', 'XNORWeight'):
            raise ValueError('the naive loop is built for Group-Net\'s default conv (ApproxSign, '
                             'XNORWeight)')
    shared = getattr(block, 'shared_downsample', False)
    cin, cout = conv.in_channels // k, conv.out_channels // k
    singles = []
    for b in range(k):
        ds = None
        if block.downsample is not None:
            if shared:
                ds = block.downsample
            else:
                dconv = block.downsample[0]
                ds = nn.Sequential(
                    type(dconv)(cin, cout, 1, stride=dconv.stride, bias=False,
                                act_binarizer=conv_cfg['act_binarizer'],
                                weight_binarizer=conv_cfg['weight_binarizer']),
                    nn.BatchNorm2d(cout))
        single = BinaryBasicBlock(cin, cout, stride=conv.stride[0], downsample=ds,
                                  conv_cfg=conv_cfg, act_cfg=block.act_cfg, order=block.order)
        single.load_state_dict(single_state(block, k, b, shared), strict=False)
        singles.append(single)
    return nn.ModuleList(singles)


class NaiveGroupNet(nn.Module):
    """Group-Net as K separate single-base blocks per group, summed in a Python loop with each
    group's lambda: the straightforward implementation. Built from ``model``'s weights."""

    def __init__(self, model: GroupNetResNet):
        super().__init__()
        self.model = model  # stem and lambdas
        self.k = model.num_bases
        self.groups = nn.ModuleList(split_block(block, self.k)
                                    for name in model.res_layers
                                    for block in getattr(model, name))
        self.lambdas = [block.aggregate.scales for name in model.res_layers
                        for block in getattr(model, name)]

    def forward(self, x):
        x = self.model.forward_stem(x)
        for bases, lam in zip(self.groups, self.lambdas):
            x = sum(lam[b] * bases[b](x) for b in range(self.k))
        return (x, )


class Classifier(nn.Module):
    def __init__(self, backbone, num_classes=1000):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def make_model(kind: str, num_bases: int) -> nn.Module:
    """``'fp'`` (torchvision's ResNet-18), ``'groupnet'`` or ``'bireal'``, seeded."""
    import torchvision
    torch.manual_seed(0)
    if kind == 'fp':
        return torchvision.models.resnet18(num_classes=1000)
    if kind == 'groupnet':
        return Classifier(GroupNetResNet(depth=18, num_bases=num_bases))
    if kind == 'bireal':
        return Classifier(GroupNetResNet(depth=18, **BIREAL))
    raise ValueError(f'unknown model {kind!r}')


def make_models(num_bases: int, before: bool = False) -> dict:
    """Name -> (model, reference path?); the naive loop checked against Group-Net."""
    groupnet = make_model('groupnet', num_bases)
    naive = Classifier(NaiveGroupNet(groupnet.backbone))
    naive.fc = groupnet.fc
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        groupnet.eval(), naive.eval()
        torch.testing.assert_close(naive(x), groupnet(x), atol=1e-4, rtol=1e-4)
    bireal = make_model('bireal', num_bases)
    models = {'FP ResNet-18 (torchvision)': (make_model('fp', num_bases), False),
              f'GroupNet-R18 K={num_bases} (mmbnn)': (groupnet, False),
              f'GroupNet-R18 K={num_bases} (naive loop)': (naive, False),
              'Bi-Real Net-18 (mmbnn)': (bireal, False)}
    if before:
        models[f'GroupNet-R18 K={num_bases} (before)'] = (groupnet, True)
        models['Bi-Real Net-18 (before)'] = (bireal, True)
    return models


def step_fn(model, x, y, reference=False):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        with reference_binary_layers(reference):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return step


#: Operator kinds of a training step for ``--profile`` (the first match counts).
STEP_KINDS = [
    ("the fused binary conv's Python (forward, backward)", r'^_FusedBinaryConv2d'),
    ('conv arithmetic (oneDNN)', r'^aten::.*conv'),
    ("mmbnn's train ops", r'^mmbnn::'),
    ('autograd bookkeeping', r'^autograd::|^torch::autograd::|Backward\d*$|^detach'),
    ('BN', r'batch_norm'),
    ('pooling', r'pool'),
    ('classifier', r'^aten::(addmm|linear|mm|matmul)$'),
    ('element-wise and layout', r'^aten::|^Optimizer'),
]


def bench_profile(args):
    from mmbnn.analysis.timing import op_shares
    torch.set_num_threads(1)
    batch = args.batch_size[0]
    torch.manual_seed(0)
    x = torch.randn(batch, 3, *args.shape)
    y = torch.randint(0, 1000, (batch, ))
    print(f'profile of one training step, 1 thread, batch {batch}, input '
          f'{args.shape[0]}x{args.shape[1]} (shares of its time)')
    out = {}
    for name, (model, ref) in make_models(args.num_bases).items():
        if 'naive' in name:
            continue
        shares, seconds = op_shares(step_fn(model.train(), x, y, ref), STEP_KINDS,
                                    runs=args.steps, warmup=args.warmup)
        out[name] = dict(shares=shares, ms=1e3 * seconds)
        parts = ', '.join(f'{k} {100 * v:.1f}%' for k, v in
                          sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.001)
        print(f'{name} ({1e3 * seconds:.0f} ms a step, profiled): {parts}', flush=True)
    return out


def bench_speed(args):
    k = args.num_bases
    models = make_models(k, args.before)
    names = list(models)
    fp, ours, naive, bireal = names[:4]
    print(f'training step, input {args.shape[0]}x{args.shape[1]}, K={k}, median of '
          f'{args.steps} interleaved steps, {args.clock} clock')
    head = (f'{"threads":>7s} {"batch":>5s} {"FP ms":>7s} {"GroupNet ms":>11s} '
            f'{"naive ms":>9s} {"Bi-Real ms":>10s} {"GN/(K x FP)":>11s} {"naive/GN":>8s} '
            f'{"BiReal/FP":>9s}')
    if args.before:
        head += f' {"before: GN/(K x FP)":>19s} {"BiReal/FP":>9s}'
    print(head)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batch_size:
            torch.manual_seed(0)
            x = torch.randn(batch, 3, *args.shape)
            y = torch.randint(0, 1000, (batch, ))
            steps = {name: step_fn(m.train(), x, y, ref) for name, (m, ref) in models.items()}
            t = time_interleaved(steps, repeats=args.steps, warmup=args.warmup)
            ms = {name: 1000 * t[name].median(args.clock) for name in t}
            row = dict(threads=threads, batch=batch,
                       groupnet=median_ratio(t[ours], t[fp], args.clock) / k,
                       naive=median_ratio(t[naive], t[ours], args.clock),
                       bireal=median_ratio(t[bireal], t[fp], args.clock))
            line = (f'{threads:7d} {batch:5d} {ms[fp]:7.1f} {ms[ours]:11.1f} {ms[naive]:9.1f} '
                    f'{ms[bireal]:10.1f} {row["groupnet"]:11.2f} {row["naive"]:8.2f} '
                    f'{row["bireal"]:9.2f}')
            if args.before:
                row['groupnet_before'] = median_ratio(t[names[4]], t[fp], args.clock) / k
                row['bireal_before'] = median_ratio(t[names[5]], t[fp], args.clock)
                line += f' {row["groupnet_before"]:19.2f} {row["bireal_before"]:9.2f}'
            rows.append(row)
            print(line, flush=True)
    print(f'goals: GN/(K x FP) <= 1.15 (worst here {max(r["groupnet"] for r in rows):.2f}); '
          f'naive/GN >= 1 (worst {min(r["naive"] for r in rows):.2f}); BiReal/FP <= 1.15 '
          f'(worst {max(r["bireal"] for r in rows):.2f})')
    return rows


def _one_memory(kind: str, reference: bool, num_bases: int, batch: int, shape, threads: int):
    """Saved bytes and peak RSS of one step (run in a fresh process by bench_memory)."""
    from mmbnn.analysis.memory import SavedTensorMeter, peak_rss
    torch.set_num_threads(threads)
    model = make_model(kind, num_bases).train()
    torch.manual_seed(1)
    x = torch.randn(batch, 3, *shape)
    y = torch.randint(0, 1000, (batch, ))
    step = step_fn(model, x, y, reference)
    step()  # warm-up: optimizer state, allocator
    meter = SavedTensorMeter(model)
    with reference_binary_layers(reference), meter.record():
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return dict(saved=meter.bytes(), peak=peak_rss(step))


def _gradient_check(kind: str, num_bases: int, batch: int, shape):
    """(|loss after - loss before|, largest gradient difference relative to the gradient's
    largest value) on a fixed batch."""
    model = make_model(kind, num_bases).train()
    torch.manual_seed(1)
    x = torch.randn(batch, 3, *shape)
    y = torch.randint(0, 1000, (batch, ))
    out = []
    for reference in (False, True):
        with reference_binary_layers(reference):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        out.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
        model.zero_grad(set_to_none=True)
    (la, ga), (lb, gb) = out
    rel = max(((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
              for a, b in zip(ga, gb))
    return abs(la - lb), rel


def bench_memory(args):
    k, batch = args.num_bases, args.batch_size[0]
    threads = args.threads[0]
    print(f'memory of one training step, input {args.shape[0]}x{args.shape[1]}, batch {batch}, '
          f'{threads} thread(s); MB = 2^20 bytes')
    print(f'{"model":28s} {"path":7s} {"saved MB":>9s} {"peak RSS MB":>11s} '
          f'{"saved: before/after":>20s}')
    results = {}
    for kind, label in (('fp', 'FP ResNet-18'), ('groupnet', f'Group-Net R18 K={k}'),
                        ('bireal', 'Bi-Real Net-18')):
        for reference in ((False, ) if kind == 'fp' else (True, False)):
            code = (f'import json, sys; sys.path.insert(0, {sys.path[0]!r}); '
                    f'from bench_groupnet import _one_memory; print(json.dumps(_one_memory('
                    f'{kind!r}, {reference}, {k}, {batch}, {tuple(args.shape)}, {threads})))')
            proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-3000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results[(kind, reference)] = r
            path = '' if kind == 'fp' else ('before' if reference else 'after')
            ratio = ''
            if kind != 'fp' and not reference:
                ratio = f'{results[(kind, True)]["saved"] / r["saved"]:.2f}x'
            peak = '-' if r['peak'] is None else f'{r["peak"] / 2**20:.0f}'
            print(f'{label:28s} {path:7s} {r["saved"] / 2**20:9.1f} {peak:>11s} {ratio:>20s}',
                  flush=True)
    print('\nafter vs before on the same batch (float32):')
    for kind, label in (('groupnet', f'Group-Net R18 K={k}'), ('bireal', 'Bi-Real Net-18')):
        loss, grad = _gradient_check(kind, k, batch, tuple(args.shape))
        print(f'  {label}: |loss difference| {loss:.2e}, largest gradient difference '
              f'{grad:.2e} of that gradient\'s largest value')
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-bases', type=int, default=5)
    parser.add_argument('--batch-size', type=int, nargs='+', default=[8, 16])
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--shape', type=int, nargs=2, default=(112, 112))
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--clock', choices=('wall', 'process', 'thread'), default='wall',
                        help='the clock of the ratios (default: wall; thread and process are '
                        'CPU time, steadier on a shared machine)')
    parser.add_argument('--before', action='store_true',
                        help='also time the binary models through the reference path')
    parser.add_argument('--memory', action='store_true',
                        help='bytes saved for backward and peak RSS of one step, before and '
                        'after (first batch size and thread count)')
    parser.add_argument('--profile', action='store_true',
                        help='where the time of a training step goes, per operator kind (one '
                        'thread, first batch size)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.memory:
        return bench_memory(args)
    return bench_profile(args) if args.profile else bench_speed(args)


if __name__ == '__main__':
    main()
