"""Time one training step of Group-Net ResNet-18 (K bases as grouped convs) against the
full-precision ResNet-18 and a naive Group-Net that loops over K per-base modules.

    python tools/analysis/bench_groupnet.py [--num-bases 5] [--batch-size 8] [--shape 112 112]
                                            [--steps 5] [--threads N]

The three models are timed in one run, interleaved (ABCABC...), and the script prints the median
step times and the ratios; the goal is GroupNet <= 1.1 * K * FP and clearly faster than the loop.
"""
import argparse
import statistics
import time

import torch
from torch import nn

from mmbnn.models.backbones import GroupNetResNet


class NaiveGroupNet(nn.Module):
    """Group-Net as K separate single-base networks per group, summed in a Python loop: the
    straightforward implementation the grouped convolutions replace. Same maths."""

    def __init__(self, num_bases: int, **kwargs):
        super().__init__()
        self.num_bases = num_bases
        # K single-base backbones; block i of base k is bases[k].layerX[j]; stem of base 0 used.
        self.bases = nn.ModuleList(GroupNetResNet(num_bases=1, **kwargs)
                                   for _ in range(num_bases))
        self.scales = nn.Parameter(torch.full((num_bases, ), 1.0 / num_bases))

    def forward(self, x):
        stem = self.bases[0]
        x = stem.maxpool(stem.relu(stem.bn1(stem.conv1(x))))
        for name in stem.res_layers:
            for j in range(len(getattr(stem, name))):
                x = sum(self.scales[k] * getattr(self.bases[k], name)[j](x)
                        for k in range(self.num_bases))
        return (x, )


def make_models(num_bases, num_classes=1000):
    import torchvision
    head = lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # noqa: E731
                                 nn.Linear(512, num_classes))
    groupnet = nn.Sequential(GroupNetResNet(depth=18, num_bases=num_bases), _First(), head())
    naive = nn.Sequential(NaiveGroupNet(num_bases, depth=18), _First(), head())
    return {
        'FP ResNet-18 (torchvision)': torchvision.models.resnet18(num_classes=num_classes),
        f'GroupNet-R18 K={num_bases} (grouped conv)': groupnet,
        f'GroupNet-R18 K={num_bases} (naive loop)': naive,
    }


class _First(nn.Module):
    def forward(self, outs):
        return outs[-1]


def step_fn(model, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-bases', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--shape', type=int, nargs=2, default=(112, 112))
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch_size, 3, *args.shape)
    y = torch.randint(0, 1000, (args.batch_size, ))
    models = make_models(args.num_bases)
    steps = {name: step_fn(m.train(), x, y) for name, m in models.items()}
    times = {name: [] for name in models}
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    for _ in range(args.steps):
        for name, step in steps.items():  # interleaved, so machine noise hits all alike
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) * 1000 for name, t in times.items()}
    fp, grouped, naive = med.values()
    k = args.num_bases
    print(f'training step, batch {args.batch_size}, input {args.shape[0]}x{args.shape[1]}, '
          f'{torch.get_num_threads()} threads, median of {args.steps} interleaved steps')
    print(f'{"model":42s} {"step ms":>10s} {"x FP":>8s}')
    for name, ms in med.items():
        print(f'{name:42s} {ms:10.1f} {ms / fp:8.2f}')
    print(f'GroupNet / (K x FP) = {grouped / (k * fp):.2f}  (goal <= 1.10)')
    print(f'naive loop / GroupNet = {naive / grouped:.2f}  (goal > 1)')


if __name__ == '__main__':
    main()
