"""Time one training step of Group-Net ResNet-18 against the full-precision ResNet-18 and against
a naive Group-Net that loops over K per-base modules.

    python tools/analysis/bench_groupnet.py [--num-bases 5] [--batch-size 8 16] [--threads 1 2]
                                            [--shape 112 112] [--steps 5] [--clock wall]

For every (threads, batch size) the three models are timed side by side in one run, interleaved
(:func:`mmbnn.analysis.timing.time_interleaved`), and the script prints the median step times
and two ratios: GroupNet / (K x FP), whose goal is <= 1.1, and naive / GroupNet, which must be
> 1 (ours never slower than the loop).

The naive reference is the same maths, checked at the start (outputs equal in eval mode): it is
built from the Group-Net model's own weights, one single-base block (``groups=1``, C channels)
per base and group, run in a Python loop over the K bases and summed with the group's own lambda;
the stem is the model's. It differs only in how the K bases execute.
"""
import argparse

import torch
from torch import nn

from mmbnn.analysis.timing import median_ratio, time_interleaved
from mmbnn.models.backbones import BinaryBasicBlock, GroupNetResNet


def split_block(block, k):
    """K single-base copies of a grouped Group-Net basic block (weights sliced per base)."""
    singles = []
    for b in range(k):
        conv = block.conv1
        cin, cout = conv.in_channels // k, conv.out_channels // k
        ds = None
        if block.downsample is not None:
            dconv, dbn = block.downsample
            ds = GroupNetResNet._make_downsample(
                'binary', cin, cout, dconv.stride[0], 1, block_conv_cfg(dconv), dict(type='BN'))
        single = BinaryBasicBlock(cin, cout, stride=conv.stride[0], downsample=ds,
                                  conv_cfg=block_conv_cfg(conv), act_cfg=block.act_cfg,
                                  order=block.order)
        state = {}
        for key, value in block.state_dict().items():
            if key.startswith('aggregate.') or value.dim() == 0:
                if not key.startswith('aggregate.'):
                    state[key] = value
                continue
            rows = value.shape[0] // k
            state[key] = value[b * rows:(b + 1) * rows]
        single.load_state_dict(state)
        singles.append(single)
    return nn.ModuleList(singles)


def block_conv_cfg(conv):
    return dict(type='mmbnn.BinaryConv2d', act_binarizer=dict(type='ApproxSign'),
                weight_binarizer=dict(type='XNORWeight'), pad_value=conv.pad_value)


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


def make_models(num_bases):
    import torchvision
    torch.manual_seed(0)
    backbone = GroupNetResNet(depth=18, num_bases=num_bases)
    groupnet = Classifier(backbone)
    naive = Classifier(NaiveGroupNet(backbone))
    naive.fc = groupnet.fc
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        groupnet.eval(), naive.eval()
        torch.testing.assert_close(naive(x), groupnet(x), atol=1e-4, rtol=1e-4)
    return {
        'FP ResNet-18 (torchvision)': torchvision.models.resnet18(num_classes=1000),
        f'GroupNet-R18 K={num_bases} (mmbnn)': groupnet,
        f'GroupNet-R18 K={num_bases} (naive loop)': naive,
    }


def step_fn(model, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return step


def main(argv=None):
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
    args = parser.parse_args(argv)
    k = args.num_bases
    models = make_models(k)
    fp_name, ours_name, naive_name = models
    print(f'training step, input {args.shape[0]}x{args.shape[1]}, K={k}, median of '
          f'{args.steps} interleaved steps, {args.clock} clock')
    print(f'{"threads":>7s} {"batch":>5s} {"FP ms":>8s} {"GroupNet ms":>12s} {"naive ms":>9s} '
          f'{"GroupNet/(K x FP)":>18s} {"naive/GroupNet":>15s}')
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batch_size:
            torch.manual_seed(0)
            x = torch.randn(batch, 3, *args.shape)
            y = torch.randint(0, 1000, (batch, ))
            steps = {name: step_fn(m.train(), x, y) for name, m in models.items()}
            t = time_interleaved(steps, repeats=args.steps, warmup=args.warmup)
            ms = {name: 1000 * t[name].median(args.clock) for name in t}
            ratio = median_ratio(t[ours_name], t[fp_name], args.clock) / k
            naive = median_ratio(t[naive_name], t[ours_name], args.clock)
            rows.append((threads, batch, ratio, naive))
            print(f'{threads:7d} {batch:5d} {ms[fp_name]:8.1f} {ms[ours_name]:12.1f} '
                  f'{ms[naive_name]:9.1f} {ratio:18.2f} {naive:15.2f}', flush=True)
    print(f'goal: GroupNet/(K x FP) <= 1.10 (worst here {max(r[2] for r in rows):.2f}); '
          f'naive/GroupNet > 1 (worst here {min(r[3] for r in rows):.2f})')
    return rows


if __name__ == '__main__':
    main()
