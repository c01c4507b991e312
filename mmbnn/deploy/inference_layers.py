"""Inference modules that run binary layers on the bit-packed kernels of :mod:`mmbnn.ops`.

Each takes the float input of the layer it replaces and returns what that layer returns (up to
float rounding: the kernels sum integers, the simulation sums floats): it binarizes and packs
the input (``bit = not (x - b >= 0)``, one threshold ``b`` per channel), runs the xor/popcount
convolution and the fused epilogue (``scale``/``shift`` from the weight scale and the bias, and a
following BN or ReLU folded in by :func:`mmbnn.deploy.fuse_epilogues`). They hold the weights as
packed 64-bit words (the layout of packed checkpoints) plus per-channel epilogue vectors, never
the float weights, and are eval-only. Float outputs are channels-last tensors, the layout every
converted layer and torch's fast CPU paths (pooling, 1x1 convs, adds) share. Modules are safe to
call from several Python threads at once.
"""
import threading
import weakref
from typing import Optional

import torch
from torch import nn

from mmbnn.ops import conv_output_size, num_words, pack_weights
from mmbnn.ops.binary_conv import OUT_MODES, group_pairs, run_binary_conv2d
from mmbnn.ops.bitpack import TORCH_ISA, kernel_isa, pack_signs
from .converters import NotConvertible, binary_weight, sign_threshold

__all__ = ['BitPackedConv2d', 'BitPackedMultiBaseConv2d', 'BitPackedLinear', 'InferenceOnly',
           'bn_affine', 'pack_input']

_NO_ACT = (0, None, None, None)


def bn_affine(bn: nn.Module):
    """``(a, b)`` with ``bn(x) = a * x + b`` per channel for a BatchNorm in eval mode."""
    inv = torch.rsqrt(bn.running_var.detach().float() + bn.eps)
    a = inv if bn.weight is None else bn.weight.detach().float() * inv
    b = -bn.running_mean.detach().float() * a
    if bn.bias is not None:
        b = b + bn.bias.detach().float()
    return a, b


def pack_input(x: torch.Tensor, threshold: Optional[torch.Tensor], groups: int, repeat: int,
               code: int) -> torch.Tensor:
    """Packed words of a float input (any layout; channels-last is the fast path)."""
    if x.dtype != torch.float32:
        x = x.float()
    if code == TORCH_ISA:
        return pack_signs(x, threshold, groups, repeat)
    return torch.ops.mmbnn.pack_activations(x, threshold, groups, repeat, code)


class InferenceOnly(nn.Module):
    """A module that only runs in eval mode: ``train(True)`` raises."""

    def train(self, mode: bool = True):
        if mode:
            raise RuntimeError(f'{type(self).__name__} is a bit-packed inference module: a '
                               'converted model cannot be trained (convert the trained model '
                               'again instead)')
        return super().train(False)


class _Epilogue(InferenceOnly):
    """``scale``/``shift`` per output channel, an optional ReLU and an optional post affine,
    and the folding of a following BN or ReLU into them."""
    relu: bool

    def _init_epilogue(self, channels: int):
        self._guard_output = False
        self._last_outputs = {}  # thread id -> weakref of this layer's last output
        self.register_buffer('scale', torch.ones(channels))
        self.register_buffer('shift', torch.zeros(channels))
        self.register_buffer('post_scale', None)
        self.register_buffer('post_shift', None)
        self.relu = False

    def _output(self, y: torch.Tensor) -> torch.Tensor:
        """Return ``y``, remembered (per thread) for the check of the modules folded into this
        epilogue (:class:`~mmbnn.deploy.fusion.FoldedInto`)."""
        if self._guard_output:
            self._last_outputs[threading.get_ident()] = weakref.ref(y)
        return y

    def last_output(self) -> Optional[torch.Tensor]:
        """The tensor this layer last returned in the calling thread (while it is alive)."""
        ref = self._last_outputs.get(threading.get_ident())
        return None if ref is None else ref()

    def can_fold(self, kind: str) -> bool:
        """Whether a following ``'affine'`` (BN) or ``'relu'`` can fold into the epilogue."""
        if kind == 'relu':
            return not self.relu and self.post_scale is None
        return self.post_scale is None

    def fold_affine(self, a: torch.Tensor, b: torch.Tensor) -> None:
        """Fold ``y -> a * y + b`` (per output channel) into the epilogue."""
        if not self.can_fold('affine'):
            raise RuntimeError('the epilogue already ends with an affine after its ReLU')
        a, b = a.detach().float().reshape(-1), b.detach().float().reshape(-1)
        if self.relu:
            self.post_scale, self.post_shift = a.clone(), b.clone()
        else:
            self._fold_pre(a, b)

    def _fold_pre(self, a: torch.Tensor, b: torch.Tensor) -> None:
        self.scale.mul_(a)
        self.shift.mul_(a).add_(b)

    def fold_relu(self) -> None:
        """Fold ``y -> max(y, 0)`` into the epilogue."""
        if not self.can_fold('relu'):
            raise RuntimeError('the epilogue already has a ReLU or a post affine')
        self.relu = True

    def extra_repr(self) -> str:
        return f', relu={self.relu}, post_affine={self.post_scale is not None}'


class BitPackedConv2d(_Epilogue):
    """A binary conv on the bit-packed kernels: ``conv(pad(sign(x - b), pad_value),
    signs) * scale + shift`` (then ReLU and a post affine where fused).

    Args:
        in_channels, out_channels (int): Channels of the conv (K * C for K bases as groups).
        kernel_size, stride: As for ``nn.Conv2d`` (ints or pairs).
        padding, dilation: An int or a pair for every group, or with ``group_padding`` /
            ``group_dilation`` one per group (BPAC's bases).
        groups (int): Conv groups.
        pad_value (float): Value of the padded border after binarization (1: free; any other
            value is corrected exactly). Default: 0.
        threshold (bool): Whether the input binarizer has a per-channel threshold (RSign).
        num_bases (int): K, when the groups hold K bases base-major that may share one input
            (``forward(x, num_shared_bases=K)``). Default: 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, pad_value: float = 0.0, threshold: bool = False,
                 num_bases: int = 1, group_padding=None, group_dilation=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'in_channels ({in_channels}) and out_channels ({out_channels}) '
                             f'must be divisible by groups ({groups})')
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = (int(kh), int(kw))
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        self.pad_value = float(pad_value)
        self.num_bases = num_bases
        self._padding = group_pairs(_as_pair(padding), group_padding, groups, 'padding')
        self._dilation = group_pairs(_as_pair(dilation), group_dilation, groups, 'dilation')
        # group 0's geometry as ints, for the output size (every group gives the same)
        self._geometry0 = tuple(int(v) for v in (*self._padding[0], *self._dilation[0]))
        words = num_words(in_channels // groups)
        self.register_buffer('packed_weight',
                             torch.zeros(out_channels, kh * kw * words, dtype=torch.int64))
        self.register_buffer('threshold', torch.zeros(in_channels) if threshold else None)
        self._init_epilogue(out_channels)
        self._prepared = {}  # ISA code -> (weight version, prepared words)
        # the rest of the kernels' epilogue, set by the fused blocks (mmbnn.deploy.fused_resnet):
        # PReLU/RPReLU parameters of the activation (``relu`` says it is on), a residual
        # scale, an activation after the residual, the sum of K bases, and the thresholds of a
        # sign-bits output for the next binary conv
        for name in ('act_pre', 'act_slope', 'act_post', 'residual_scale', 'act2_pre',
                     'act2_slope', 'act2_post', 'out_threshold'):
            self.register_buffer(name, None)
        self.act2 = False
        self.sum_bases = 1
        self.out_groups = 1
        self.out_repeat = 1

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_conv(cls, conv: nn.Module, groups: Optional[int] = None, paddings=None,
                  dilations=None, num_bases: int = 1) -> 'BitPackedConv2d':
        """From a binary conv (``act_binarizer``, ``weight_binarizer``, ``weight``, ``bias``,
        ``stride``, ``padding``, ``dilation``, ``groups``, ``pad_value``, ``padding_mode``);
        ``groups`` overrides the conv's (the groups of its weight), ``paddings``/``dilations``
        (lists, one int or pair per group) the conv's geometry."""
        if getattr(conv, 'padding_mode', 'zeros') != 'zeros':
            raise NotConvertible(f'padding_mode={conv.padding_mode!r} (the kernels pad with a '
                                 'constant)')
        weight = conv.weight
        if weight.dim() != 4:
            raise NotConvertible(f'weight of shape {tuple(weight.shape)} is not a 2-D conv\'s')
        groups = int(conv.groups if groups is None else groups)
        cout, cin_g, kh, kw = weight.shape
        in_channels = cin_g * groups
        padding = 0
        if paddings is None:
            left, right, top, bottom = conv._reversed_padding_repeated_twice
            if left != right or top != bottom:
                raise NotConvertible(f'asymmetric padding {conv.padding!r}')
            padding = (int(top), int(left))
        dilation = tuple(int(d) for d in conv.dilation) if dilations is None else 1
        threshold = sign_threshold(conv.act_binarizer, in_channels)
        signs, scale = binary_weight(conv)
        m = cls(in_channels, cout, (kh, kw), tuple(conv.stride), padding, dilation, groups,
                pad_value=getattr(conv, 'pad_value', 0.0), threshold=threshold is not None,
                num_bases=num_bases, group_padding=paddings, group_dilation=dilations)
        with torch.no_grad():
            m.packed_weight.copy_(_words(conv, signs, m.packed_weight.shape))
            m.scale.copy_(scale)
            if conv.bias is not None:
                m.shift.copy_(conv.bias.detach().float())
            if threshold is not None:
                m.threshold.copy_(threshold)
        return m

    # -- forward --------------------------------------------------------------------------
    def prepared_weight(self, code: int) -> Optional[torch.Tensor]:
        """The packed weights rearranged for the ISA ``code`` (computed once, again only when
        the weights change)."""
        if code == TORCH_ISA:
            return None
        w = self.packed_weight
        key = (w._version, w.data_ptr())
        entry = self._prepared.get(code)
        if entry is None or entry[0] != key:
            entry = (key, torch.ops.mmbnn.prepare_weights(w, self.groups, code))
            self._prepared[code] = entry  # one assignment: safe under several threads
        return entry[1]

    def _shares(self, k: int) -> bool:
        """Whether K bases binarize one input alike (no threshold, or the same per base)."""
        if self.threshold is None:
            return True
        t = self.threshold.view(k, -1)
        return bool((t == t[:1]).all())

    def pack(self, x: torch.Tensor, num_shared_bases: Optional[int] = None,
             code: Optional[int] = None) -> torch.Tensor:
        """The packed input: ``x`` (N, in_channels, H, W), or with ``num_shared_bases=K`` the
        bases' shared input (N, in_channels / K, H, W), packed once when the bases binarize it
        alike, else once per base with each base's thresholds."""
        code = kernel_isa() if code is None else code
        k = num_shared_bases or 1
        if x.dim() != 4 or x.shape[1] * k != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects (N, {self.in_channels // k}, H, W) '
                             f'inputs{" (shared by K=%d bases)" % k if k > 1 else ""}, got '
                             f'{tuple(x.shape)}')
        if k > 1 and self.groups % k:
            raise ValueError(f'num_shared_bases={k} does not divide groups={self.groups}')
        if k > 1 and not self._shares(k):  # per-base thresholds: K packed copies
            return pack_input(x, self.threshold, self.groups // k, k, code)
        thr = self.threshold if self.threshold is None or k == 1 else \
            self.threshold[:self.in_channels // k]
        return pack_input(x, thr, self.groups // k, 1, code)

    def run_packed(self, xp: torch.Tensor, out: str = 'float', code: Optional[int] = None,
                   residual: Optional[torch.Tensor] = None, **epilogue):
        """The conv of packed activations with this layer's whole epilogue (see
        :func:`mmbnn.ops.binary_conv2d`); ``residual`` (channels-last) and ``epilogue``
        (``sum_bases``...) as there. Returns the list of outputs."""
        code = kernel_isa() if code is None else code
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        act = (1, self.act_pre, self.act_slope, self.act_post) if self.relu else _NO_ACT
        act2 = (1, self.act2_pre, self.act2_slope, self.act2_post) if self.act2 else _NO_ACT
        spec = dict(sum_bases=self.sum_bases, out_threshold=self.out_threshold,
                    out_groups=self.out_groups, out_repeat=self.out_repeat)
        spec.update(epilogue)
        return run_binary_conv2d(
            xp, self.in_channels // self.groups, self.packed_weight, self.prepared_weight(code),
            self.groups, (kh, kw), (sh, sw), self._padding, self._dilation, self.pad_value,
            OUT_MODES[out], code, scale=self.scale, shift=self.shift, act=act,
            post_scale=self.post_scale, post_shift=self.post_shift, residual=residual,
            residual_scale=self.residual_scale if residual is not None else None, act2=act2,
            **spec)

    def output_size(self, h: int, w: int):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph, pw, dh, dw = self._geometry0
        return conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)

    def forward(self, x: torch.Tensor, num_shared_bases: Optional[int] = None) -> torch.Tensor:
        code = kernel_isa()
        y = self.run_packed(self.pack(x, num_shared_bases, code), code=code)[0]
        return self._output(_like(y, x))

    def forward_shared(self, x: torch.Tensor, num_bases: int) -> torch.Tensor:
        """``forward(x.repeat(1, K, 1, 1))`` with the input packed once."""
        return self(x, num_shared_bases=num_bases)

    def _load_from_state_dict(self, *args, **kwargs):
        self._prepared.clear()
        super()._load_from_state_dict(*args, **kwargs)

    def extra_repr(self) -> str:
        pads = self._padding.tolist()
        dils = self._dilation.tolist()
        geo = (f'padding={tuple(pads[0])}, dilation={tuple(dils[0])}'
               if all(p == pads[0] for p in pads) and all(d == dils[0] for d in dils) else
               f'paddings={[tuple(p) for p in pads]}, dilations={[tuple(d) for d in dils]}')
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, {geo}, groups={self.groups}, '
                f'pad_value={self.pad_value}, threshold={self.threshold is not None}'
                + super().extra_repr())


def _like(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The kernels' channels-last output in the input's dtype and, for a contiguous (NCHW) input,
    its layout: a model whose layers hand channels-last tensors on stays channels-last (and
    fast), one that expects NCHW gets it."""
    if x.dtype != torch.float32:
        y = y.to(x.dtype)
    if x.is_contiguous() and not y.is_contiguous():
        y = y.contiguous()
    return y


def _words(layer: nn.Module, signs: torch.Tensor, shape) -> torch.Tensor:
    """The kernels' words of a layer's weight signs: those of its packed checkpoint as they are
    (:class:`~mmbnn.binarizers.PackedBinaryWeight` keeps them), else packed from ``signs``."""
    words = getattr(layer.weight_binarizer, 'words', None)
    if isinstance(words, torch.Tensor) and tuple(words.shape) == tuple(shape):
        return words
    return pack_weights(signs)


def _as_pair(v):
    """An int or a 2-sequence as what :func:`~mmbnn.ops.binary_conv.group_pairs` takes."""
    return v if isinstance(v, int) else (int(v[0]), int(v[1]))


class BitPackedMultiBaseConv2d(_Epilogue):
    """A K-base binary conv ``sum_k lambda_k BinConv_k(x)`` on the kernels: the K bases run as
    one grouped conv over the input packed once (or once per base with per-base thresholds),
    ``lambda_k`` folded into each base's scale and shift, summed by the kernel; ReLU and a post
    affine (fused BN) apply after the sum.

    Args:
        conv (BitPackedConv2d): The K bases as ``groups = K * g`` over ``K * C`` channels.
        num_bases (int): K.
    """

    def __init__(self, conv: BitPackedConv2d, num_bases: int):
        super().__init__()
        if conv.out_channels % num_bases:
            raise ValueError(f'{conv.out_channels} output channels do not hold K={num_bases} '
                             'bases')
        self.conv = conv
        self.num_bases = num_bases
        self.in_channels = conv.in_channels // num_bases
        self.out_channels = conv.out_channels // num_bases
        self._init_epilogue(self.out_channels)
        del self.scale, self.shift  # the bases' own scale and shift live in self.conv

    def _fold_pre(self, a, b):
        k = self.num_bases
        self.conv.scale.view(k, -1).mul_(a)
        self.conv.shift.view(k, -1).mul_(a)
        self.conv.shift.view(k, -1)[0].add_(b)  # b once, not once per base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = kernel_isa()
        xp = self.conv.pack(x, self.num_bases, code)
        y = self.conv.run_packed(xp, code=code, sum_bases=self.num_bases)[0]
        if self.relu:
            y = y.clamp_min(0)
        if self.post_scale is not None:
            y = y * self.post_scale.view(1, -1, 1, 1) + self.post_shift.view(1, -1, 1, 1)
        return self._output(_like(y, x))

    def extra_repr(self) -> str:
        return f'num_bases={self.num_bases}' + super().extra_repr()


class BitPackedLinear(_Epilogue):
    """A binary linear layer on the kernels: a 1x1 binary conv over the rows of the input,
    ``y = (sign(x - b) . signs) * scale + shift``.

    Args:
        in_features, out_features (int): As for ``nn.Linear``.
        threshold (bool): Whether the input binarizer has a per-feature threshold.
    """

    def __init__(self, in_features: int, out_features: int, threshold: bool = False):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer('packed_weight', torch.zeros(out_features, num_words(in_features),
                                                          dtype=torch.int64))
        self.register_buffer('threshold', torch.zeros(in_features) if threshold else None)
        self._init_epilogue(out_features)
        self._zero = group_pairs(0, None, 1, 'padding')
        self._one = group_pairs(1, None, 1, 'dilation')
        self._prepared = {}

    @classmethod
    def from_linear(cls, linear: nn.Module) -> 'BitPackedLinear':
        """From a binary linear layer (``act_binarizer``, ``weight_binarizer``, ``weight``,
        ``bias``)."""
        if linear.weight.dim() != 2:
            raise NotConvertible(f'weight of shape {tuple(linear.weight.shape)} is not a '
                                 'linear layer\'s')
        out_features, in_features = linear.weight.shape
        threshold = sign_threshold(linear.act_binarizer, in_features)
        signs, scale = binary_weight(linear)
        m = cls(in_features, out_features, threshold=threshold is not None)
        with torch.no_grad():
            m.packed_weight.copy_(_words(linear, signs.view(out_features, in_features, 1, 1),
                                         m.packed_weight.shape))
            m.scale.copy_(scale)
            if linear.bias is not None:
                m.shift.copy_(linear.bias.detach().float())
            if threshold is not None:
                m.threshold.copy_(threshold)
        return m

    prepared_weight = BitPackedConv2d.prepared_weight
    groups = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f'{type(self).__name__} expects (..., {self.in_features}) inputs, '
                             f'got {tuple(x.shape)}')
        code = kernel_isa()
        lead = x.shape[:-1]
        rows = x.reshape(-1, self.in_features)
        m = rows.shape[0]
        # the rows as the pixels of one (1, C, M, 1) image: channels contiguous per pixel
        xp = pack_input(rows.t().unsqueeze(0).unsqueeze(-1), self.threshold, 1, 1, code)
        y = run_binary_conv2d(
            xp, self.in_features, self.packed_weight, self.prepared_weight(code), 1, (1, 1),
            (1, 1), self._zero, self._one, 1.0, OUT_MODES['float'], code, scale=self.scale,
            shift=self.shift, act=(1, None, None, None) if self.relu else _NO_ACT,
            post_scale=self.post_scale, post_shift=self.post_shift)[0]
        # (1, out, M, 1) channels-last holds the (M, out) rows contiguously
        y = y.permute(0, 2, 3, 1).reshape(*lead, self.out_features)
        return self._output(y if x.dtype == torch.float32 else y.to(x.dtype))

    def _load_from_state_dict(self, *args, **kwargs):
        self._prepared.clear()
        super()._load_from_state_dict(*args, **kwargs)

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'threshold={self.threshold is not None}' + super().extra_repr())
