"""The fused binary convolution and linear functions of mmbnn's binary layers.

``y = conv(pad(sign(x - b), p), S) * alpha + bias`` in one autograd function, where ``S`` are
the weight's signs and ``alpha`` its scales (:meth:`~mmbnn.binarizers.WeightBinarizer.split`),
``b`` the activation binarizer's threshold and ``p`` the padding value. Two things differ from
binarizing, then convolving with the scaled weight ``alpha S`` through autograd:

**Order-independent values.** ``conv(+-1, +-1)`` sums integers: exact in float32 (up to 2^24 terms),
whatever the order of the sums, so whatever instruction set oneDNN picks and however many threads
share the work; the scale is then applied once per output, an elementwise product that every
machine rounds alike. (Scaling inside the weights, ``conv(sign(x), alpha S)``, rounds every
partial sum, in an order that depends on the kernel.)

**What is kept for backward.** The weight gradient needs the input's signs, the input gradient
only the weight's signs and scales, and the activation binarizer's gradient what its
:class:`~mmbnn.binarizers.sign_grad.SignGrad` says (a packed mask, ApproxSign's float input...).
So the function keeps the input's signs packed (1 bit per element) or what the rule keeps, the
weight's signs packed (1 bit per weight) and the scales, and never a float copy of either's
signs; it unpacks them in backward. Gradients (input, threshold, signs, scales, bias) are those
of the unfused chain to float rounding: ``dL/dS = alpha G``, ``dL/dalpha_c = sum_i G_ci S_ci``
with ``G = dL/d(alpha S)`` (computed from ``g alpha`` against ``S``, and for ``dL/dalpha`` as
``sum_i (alpha G)_ci S_ci / alpha_c``, or from ``G`` itself where some ``alpha_c`` is 0).

**Execution of K bases.** A layer that holds K bases as its groups passes *segments*: each a
range of input channels (or the whole input, when the bases share it), a range of weight rows /
output channels, its groups, dilation and padding. One segment is one ``F.conv2d``; several run
one after the other on contiguous per-base tensors (the input's signs are made per base, the
output written in place), and their weight gradients go straight into one tensor (autograd
through slices of the weight would add K weight-sized zero-filled buffers).

The plain PyTorch path of the layers (binarizer modules, then ``F.conv2d``) stays the reference,
and the fallback for what this function does not cover (other padding modes, binarizers without
a rule, hooks on the binarizers); :func:`reference_binary_layers` selects it for a whole model.
"""
import contextlib
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.autograd import Function

from mmbnn.binarizers._kernels import kernel_ready, tracing
from mmbnn.binarizers.functional import split_mean_abs, sign
from mmbnn.binarizers.sign_grad import SignGrad, pack_signs, unpack_signs

__all__ = ['Segment', 'binary_conv2d_fused', 'binary_linear_fused', 'reference_binary_layers',
           'fused_enabled']

_FUSED = [True]


@contextlib.contextmanager
def reference_binary_layers(enabled: bool = True) -> Iterator[None]:
    """Within this context (``enabled=True``), mmbnn's binary layers compute through the
    reference PyTorch path (binarizer modules, then ``F.conv2d`` with the scaled weight), as
    before the fused functions: for comparisons, benchmarks and debugging."""
    old = _FUSED[0]
    _FUSED[0] = not enabled
    try:
        yield
    finally:
        _FUSED[0] = old


def fused_enabled() -> bool:
    """Whether binary layers may use the fused functions (outside
    :func:`reference_binary_layers`, and not while tracing or exporting:
    :func:`~mmbnn.binarizers._kernels.tracing`)."""
    return _FUSED[0] and not tracing()


@dataclass(frozen=True)
class Segment:
    """One ``F.conv2d`` of a fused binary conv: input channels ``[in_start, in_stop)`` (None:
    all of them, an input shared by several segments), weight rows and output channels
    ``[out_start, out_stop)``, and its geometry."""
    in_start: Optional[int]
    in_stop: Optional[int]
    out_start: int
    out_stop: int
    groups: int
    dilation: Tuple[int, int]
    padding: Tuple[int, int]

    @property
    def in_key(self) -> Tuple[Optional[int], Optional[int]]:
        return self.in_start, self.in_stop


def _in_slice(x: torch.Tensor, seg: Segment) -> torch.Tensor:
    return x if seg.in_start is None else x[:, seg.in_start:seg.in_stop]


def _pad(x: torch.Tensor, seg: Segment, pad_value: float):
    """The conv's input and padding: ``x`` padded with ``pad_value`` here (padding 0 then), or
    ``x`` and the segment's padding for the conv (zero padding)."""
    ph, pw = seg.padding
    if pad_value == 0 or not (ph or pw):
        return x, seg.padding
    return F.pad(x, (pw, pw, ph, ph), value=pad_value), (0, 0)


def _channel_view(v: torch.Tensor, dim: int) -> torch.Tensor:
    """A per-channel vector (or 0-d) shaped to broadcast along dim 1 of a ``dim``-d tensor."""
    return v if v.dim() == 0 else v.view(1, -1, *([1] * (dim - 2)))


def _row_view(v: torch.Tensor, dim: int) -> torch.Tensor:
    """A per-row vector (or 0-d) shaped to broadcast along dim 0 of a ``dim``-d weight."""
    return v if v.dim() == 0 else v.view(-1, *([1] * (dim - 1)))


def _rowdot(grad: torch.Tensor, signs: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
    """``sum_i grad_ri S_ri`` per row r (dim 0) of the weight."""
    ops = kernel_ready(grad)
    if ops is not None:
        return ops.train_rowdot_signs(grad.contiguous(), packed, grad.shape[0])
    return (grad * signs).sum(tuple(range(1, signs.dim())))


def _rows(v: Optional[torch.Tensor], seg: Segment) -> Optional[torch.Tensor]:
    if v is None or v.dim() == 0:
        return v
    return v[seg.out_start:seg.out_stop]


class _Weights:
    """The weight side of the fused conv, per segment: its signs and the scale of its rows.

    ``groups=None``: ``weight`` is the signs (from a weight binarizer's ``split``) and ``scale``
    its scales. ``groups=G``: ``weight`` is the latent weight of a mean-|w| binarizer with G
    groups (``G = C_out``: XNOR-Net's per-channel scale; ``G = K``: one scale per base), whose
    signs and scales are made here, segment by segment (so the weight-sized temporaries are a
    base's, not the layer's), and whose gradient is computed here too (``dL/dw = dL/dS + sgn(w)
    dL/dalpha / n``): nothing weight-sized is kept for backward but the weight itself."""

    def __init__(self, weight, scale, groups: Optional[int]):
        self.weight, self.scale, self.groups = weight, scale, groups
        self.alphas = []

    def rows_per_group(self) -> int:
        return self.weight.shape[0] // self.groups

    def segment(self, seg: Segment, single: bool):
        """``(signs, scale of the rows)`` for ``seg``."""
        if self.groups is None:
            return (self.weight if single else self.weight[seg.out_start:seg.out_stop],
                    _rows(self.scale, seg))
        w = self.weight[seg.out_start:seg.out_stop]
        per = self.rows_per_group()
        signs, alpha = split_mean_abs(w, w.shape[0] // per)
        self.alphas.append(alpha)
        return signs, (alpha.repeat_interleave(per) if per > 1 else alpha)


def _forward(x, threshold, weights: _Weights, bias, rule: SignGrad,
             segments: Sequence[Segment], stride, pad_value: float, keep: bool):
    """The forward pass; returns ``(y, saved per input key)`` (saved only with ``keep``)."""
    xs = x if threshold is None else x - threshold
    encoded = {}
    for seg in segments:
        if seg.in_key not in encoded:
            encoded[seg.in_key] = rule.encode(_in_slice(xs, seg))
    single = len(segments) == 1
    y = None
    for seg in segments:
        xin, padding = _pad(encoded[seg.in_key][0], seg, pad_value)
        signs, scale = weights.segment(seg, single)
        z = F.conv2d(xin, signs, None, stride, padding, seg.dilation, seg.groups)
        if single:
            y = z if scale is None else z.mul_(_channel_view(scale, z.dim()))
            break
        if y is None:
            y = z.new_empty(z.shape[0], weights.weight.shape[0], *z.shape[2:])
        out = y[:, seg.out_start:seg.out_stop]
        if scale is not None:
            torch.mul(z, _channel_view(scale, z.dim()), out=out)
        else:
            out.copy_(z)
    if bias is not None:
        y.add_(_channel_view(bias, y.dim()))
    saved = {k: v[1] for k, v in encoded.items()} if keep else None
    return y, saved


def _mean_abs_grad(w: torch.Tensor, grad_signs: torch.Tensor, signs: torch.Tensor,
                   alpha: torch.Tensor, out: torch.Tensor) -> None:
    """``out = dL/dS + sgn(w) dL/dalpha_g / n`` with ``dL/dalpha_g = sum_g dL/dS S / alpha_g``
    (``len(alpha)`` groups of rows; no alpha 0)."""
    groups = alpha.shape[0]
    ops = kernel_ready(w, grad_signs, alpha, out)
    if ops is not None and w.is_contiguous() and grad_signs.is_contiguous() and \
            out.is_contiguous():
        ops.train_mean_abs_grad_(w, grad_signs, alpha, groups, out)
        return
    v = w.reshape(groups, -1)
    dalpha = (grad_signs.reshape(groups, -1) * signs.reshape(groups, -1)).sum(1) / alpha
    out.copy_(torch.addcmul(grad_signs.reshape(groups, -1), torch.sign(v),
                            (dalpha / v.shape[1]).unsqueeze(1)).view_as(out))


class _FusedBinaryConv2d(Function):

    @staticmethod
    def forward(ctx, x, threshold, weight, scale, bias, rule, segments, stride, pad_value,
                groups):
        weights = _Weights(weight, scale, groups)
        y, saved = _forward(x, threshold, weights, bias, rule, segments, stride, pad_value,
                            keep=True)
        keys = list(saved)
        flat, counts = [], []
        for k in keys:
            flat.extend(saved[k])
            counts.append(len(saved[k]))
        ctx.keys, ctx.counts = keys, counts
        ctx.in_shapes = {s.in_key: _in_slice(x, s).shape for s in segments}
        ctx.rule, ctx.segments, ctx.stride, ctx.pad_value = rule, segments, stride, pad_value
        ctx.x_shape, ctx.w_shape, ctx.groups = x.shape, weight.shape, groups
        ctx.has_threshold, ctx.has_bias = threshold is not None, bias is not None
        if groups is None:  # the signs, packed
            ctx.save_for_backward(pack_signs(weight), scale, threshold, *flat)
        else:  # the latent weight itself, and the scales made from it
            ctx.save_for_backward(weight, torch.cat(weights.alphas), threshold, *flat)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        w_saved, scale, threshold, *flat = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        need_w = ctx.needs_input_grad[2] or ctx.needs_input_grad[3]
        need_scale = ctx.needs_input_grad[3]
        saved, i = {}, 0
        for k, n in zip(ctx.keys, ctx.counts):
            saved[k] = tuple(flat[i:i + n])
            i += n
        dtype = grad_y.dtype
        single = len(ctx.segments) == 1
        mean_abs = ctx.groups is not None
        if mean_abs:
            weight, alphas = w_saved, scale
            per = ctx.w_shape[0] // ctx.groups
            signs = None
        else:
            signs = unpack_signs(w_saved, ctx.w_shape, dtype)
        # dL/dz = g alpha against the signs gives dL/dS = alpha G directly, unless a scale is 0
        # where its gradient is needed: then g against alpha S gives G
        zero_scale = bool((scale == 0).any()) if scale is not None and (
            need_scale or mean_abs) else False
        grad_w = None
        if need_w and not single:
            grad_w = grad_y.new_empty(ctx.w_shape)
        grad_in, xin_cache = {}, {}
        for seg in ctx.segments:
            rows = slice(seg.out_start, seg.out_stop)
            if mean_abs:
                w_seg = weight[rows]
                s_seg = _sign_like(w_seg)
                a_seg = alphas[seg.out_start // per:seg.out_stop // per]
                s = a_seg.repeat_interleave(per) if per > 1 else a_seg
            else:
                s_seg = signs if single else signs[rows]
                s = _rows(scale, seg)
            g = grad_y if single else grad_y[:, rows]
            seg_zero = zero_scale and s is not None and bool((s == 0).any())
            w_conv = s_seg
            if s is not None and not seg_zero:
                g = g * _channel_view(s, g.dim())  # contiguous, scaled
            else:
                g = g.contiguous()
                if s is not None:
                    w_conv = s_seg * _row_view(s, s_seg.dim())
            if seg.in_key not in xin_cache:
                xin_cache[seg.in_key] = ctx.rule.signs(saved[seg.in_key],
                                                       ctx.in_shapes[seg.in_key], dtype)
            xb = xin_cache[seg.in_key]
            xin, padding = _pad(xb, seg, ctx.pad_value)
            gx = gw = None
            if padding == seg.padding:  # zero padding: both gradients in one call
                gx, gw, _ = torch.ops.aten.convolution_backward(
                    g, xin, w_conv, None, ctx.stride, padding, seg.dilation, False, (0, 0),
                    seg.groups, (need_x, need_w, False))
            else:  # the input gradient does not depend on the border's values: no crop
                if need_x:
                    gx = torch.ops.aten.convolution_backward(
                        g, xb, w_conv, None, ctx.stride, seg.padding, seg.dilation, False,
                        (0, 0), seg.groups, (True, False, False))[0]
                if need_w:
                    gw = torch.ops.aten.convolution_backward(
                        g, xin, w_conv, None, ctx.stride, padding, seg.dilation, False, (0, 0),
                        seg.groups, (False, True, False))[1]
            if need_x:
                if seg.in_key in grad_in:
                    grad_in[seg.in_key] = grad_in[seg.in_key].add_(gx)
                else:
                    grad_in[seg.in_key] = gx
            if not need_w:
                continue
            # gw is dL/dS (= alpha G) where the scale is non-zero or absent, else G
            if mean_abs:
                out = gw if single else grad_w[rows]
                if seg_zero:
                    _mean_abs_grad_from_g(w_seg, gw, s_seg, a_seg, out)
                else:
                    _mean_abs_grad(w_seg, gw, s_seg, a_seg, out)
                if single:
                    grad_w = gw
            elif single:
                grad_w = gw
            else:
                grad_w[rows] = gw
        grad_x = grad_threshold = grad_scale = grad_bias = None
        if need_x:
            if len(grad_in) == 1:
                (key, gs), = grad_in.items()
                grad_x = ctx.rule.grad(saved[key], gs, ctx.in_shapes[key], inplace=True)
                if key != (None, None):
                    full = grad_x.new_zeros(ctx.x_shape)
                    full[:, key[0]:key[1]] = grad_x
                    grad_x = full
            else:
                grad_x = grad_y.new_empty(ctx.x_shape)
                for key, gs in grad_in.items():
                    grad_x[:, key[0]:key[1]] = ctx.rule.grad(saved[key], gs,
                                                             ctx.in_shapes[key], inplace=True)
            if ctx.has_threshold and ctx.needs_input_grad[1]:
                grad_threshold = -grad_x.sum_to_size(threshold.shape)
        if need_w and not mean_abs and scale is not None:
            dot = _rowdot(grad_w, signs, w_saved)
            dot = dot.sum() if scale.dim() == 0 else dot
            if not zero_scale:  # grad_w = alpha G already
                grad_scale = dot / scale if need_scale else None
            else:  # grad_w = G
                grad_scale = dot
                grad_w = grad_w * _row_view(scale, signs.dim())
        if ctx.has_bias and ctx.needs_input_grad[4]:
            grad_bias = grad_y.sum((0, *range(2, grad_y.dim())))
        return (grad_x if ctx.needs_input_grad[0] else None, grad_threshold,
                grad_w if ctx.needs_input_grad[2] else None,
                grad_scale if need_scale else None, grad_bias, None, None, None, None, None)


def _sign_like(w: torch.Tensor) -> torch.Tensor:
    """sign(w) (+1 at 0), one pass with the kernels."""
    ops = kernel_ready(w)
    if ops is not None and w.is_contiguous():
        return ops.train_sign(w).view(w.shape)
    return sign(w)


def _mean_abs_grad_from_g(w, g, signs, alpha, out) -> None:
    """:func:`_mean_abs_grad` from ``G = dL/d(alpha S)`` (where some alpha is 0)."""
    groups = alpha.shape[0]
    gg = g.reshape(groups, -1)
    dalpha = (gg * signs.reshape(groups, -1)).sum(1)
    grad_signs = gg * alpha.unsqueeze(1)
    v = w.reshape(groups, -1)
    out.copy_(torch.addcmul(grad_signs, torch.sign(v),
                            (dalpha / v.shape[1]).unsqueeze(1)).view_as(out))


def binary_conv2d_fused(x: torch.Tensor, threshold: Optional[torch.Tensor],
                        weight: torch.Tensor, scale: Optional[torch.Tensor],
                        bias: Optional[torch.Tensor], rule: SignGrad,
                        segments: Sequence[Segment], stride: Tuple[int, int],
                        pad_value: float = 0.0, mean_abs_groups: Optional[int] = None
                        ) -> torch.Tensor:
    """``conv(pad(sign(x - threshold), pad_value), signs) * scale + bias`` over ``segments``
    (module docstring), with ``rule``'s gradient for the sign.

    Args:
        x (Tensor): (N, C, H, W).
        threshold (Tensor, optional): ``b``, broadcasting against ``x`` (``(1, C, 1, 1)``).
        weight (Tensor): The weight's signs S (+-1), (C_out, C_in / groups, kh, kw); with
            ``mean_abs_groups`` the latent weight w instead.
        scale (Tensor, optional): (C_out, ) or 0-d; None with ``mean_abs_groups``.
        bias (Tensor, optional): (C_out, ).
        rule (SignGrad): The activation binarizer's gradient rule.
        segments (Sequence[Segment]): The convs; their output ranges tile [0, C_out).
        stride (tuple): The stride of every segment.
        pad_value (float): Value of the padded border. Default: 0.
        mean_abs_groups (int, optional): G: ``S = sign(w)`` and ``alpha_g = mean |w|`` over G
            equal groups of rows, made and differentiated here (``_Weights``). Default: None.
    """
    if mean_abs_groups is not None and scale is not None:
        raise ValueError('mean_abs_groups makes the scales from the weight: scale must be None')
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                       for t in (x, threshold, weight, scale, bias)):
        return _FusedBinaryConv2d.apply(x, threshold, weight, scale, bias, rule,
                                        tuple(segments), tuple(stride), float(pad_value),
                                        mean_abs_groups)
    return _forward(x, threshold, _Weights(weight, scale, mean_abs_groups), bias, rule,
                    segments, stride, pad_value, keep=False)[0]


class _FusedBinaryLinear(Function):

    @staticmethod
    def forward(ctx, x, threshold, signs, scale, bias, rule):
        xs = x if threshold is None else x - threshold
        xb, saved = rule.encode(xs)
        y = _linear_out(xb, signs, scale, bias)
        ctx.rule, ctx.x_shape, ctx.signs_shape = rule, x.shape, signs.shape
        ctx.has_threshold = threshold is not None
        ctx.save_for_backward(pack_signs(signs), scale, threshold, *saved)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        packed_signs, scale, threshold, *saved = ctx.saved_tensors
        signs = unpack_signs(packed_signs, ctx.signs_shape, grad_y.dtype)
        g = grad_y.reshape(-1, grad_y.shape[-1])
        need_scale = ctx.needs_input_grad[3]
        scaled_grad = scale is not None and not (need_scale and bool((scale == 0).any()))
        w = signs
        if scaled_grad:
            g = g * scale
        elif scale is not None:
            w = signs * _row_view(scale, 2)
        grad_x = grad_threshold = grad_signs = grad_scale = grad_bias = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            grad_xb = (g @ w).view(ctx.x_shape)
            grad_x = ctx.rule.grad(tuple(saved), grad_xb, ctx.x_shape, inplace=True)
            if ctx.has_threshold and ctx.needs_input_grad[1]:
                grad_threshold = -grad_x.sum_to_size(threshold.shape)
        if ctx.needs_input_grad[2] or need_scale:
            xb = ctx.rule.signs(tuple(saved), ctx.x_shape, grad_y.dtype)
            grad_signs = g.t() @ xb.reshape(-1, xb.shape[-1])
            if scale is not None:
                dot = _rowdot(grad_signs, signs, packed_signs)
                dot = dot.sum() if scale.dim() == 0 else dot
                if scaled_grad:
                    grad_scale = dot / scale
                else:
                    grad_scale = dot
                    grad_signs = grad_signs * _row_view(scale, 2)
        if ctx.needs_input_grad[4]:
            grad_bias = grad_y.reshape(-1, grad_y.shape[-1]).sum(0)
        return (grad_x if ctx.needs_input_grad[0] else None, grad_threshold,
                grad_signs if ctx.needs_input_grad[2] else None,
                grad_scale if need_scale else None, grad_bias, None)


def _linear_out(xb, signs, scale, bias):
    y = F.linear(xb, signs)
    if scale is not None:
        y = y.mul_(scale)
    if bias is not None:
        y = y.add_(bias)
    return y


def binary_linear_fused(x: torch.Tensor, threshold: Optional[torch.Tensor],
                        signs: torch.Tensor, scale: Optional[torch.Tensor],
                        bias: Optional[torch.Tensor], rule: SignGrad) -> torch.Tensor:
    """``linear(sign(x - threshold), signs) * scale + bias`` with ``rule``'s gradient for the
    sign, keeping what :func:`binary_conv2d_fused` keeps. ``x``: (..., C_in); ``threshold``
    broadcasting against it; ``signs``: (C_out, C_in); ``scale``: (C_out, ), 0-d or None."""
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                       for t in (x, threshold, signs, scale, bias)):
        return _FusedBinaryLinear.apply(x, threshold, signs, scale, bias, rule)
    xs = x if threshold is None else x - threshold
    return _linear_out(rule.encode(xs)[0], signs, scale, bias)
