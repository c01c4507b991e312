"""LCE's side of the export: the neutral graph -> a larq Keras model -> an LCE ``.tflite``.

Runs in the LCE environment (``python tools/deploy/lce_env.py --setup``; TensorFlow 2.16,
``tf_keras``, larq, larq-compute-engine, ``TF_USE_LEGACY_KERAS=1``), never in mmbnn's own: it
imports only NumPy at module level and TensorFlow inside its functions, and never torch or mmbnn.
Run it as a script with that environment's python::

    python mmbnn/deploy/lce/keras_builder.py PREFIX OUT.tflite [--inputs X.npy]
        [--settings default indirect_bgemm ...] [--groups split|native] [--via function|keras]
    python mmbnn/deploy/lce/keras_builder.py --jobs JOBS.json [options]

PREFIX.json / PREFIX.npz is the graph (:mod:`mmbnn.deploy.lce.graph`); X.npy (N, C, H, W) are
inputs to run through LCE's interpreter, whose outputs are written to ``OUT.outputs.npz`` (one
array per interpreter setting). The JSON result (op counts, file size, the output files) goes to
the file named by ``$MMBNN_LCE_JSON``, else to stdout. Conversion (:func:`convert`) is LCE's
converter, target arm; by default on a SavedModel of the Keras model's serving function, which
gives the ops and outputs of ``larq_compute_engine.convert_keras_model`` (``--via keras``)
without its per-layer serialization (seconds instead of minutes for a ResNet-18).

How each op is rebuilt (tensors are NHWC here):

- ``bconv2d``: ``x - threshold`` (when there is one), then larq's ``QuantConv2D`` with
  ``input_quantizer='ste_sign'`` and ``kernel_quantizer='ste_sign'`` holding the signs, then
  ``* scale`` and ``+ bias``; the converter makes it an ``LceBconv2d`` and fuses the multiply
  and a following BN into its output transform. Padding: where TensorFlow's ``'same'`` pads as
  torch does (stride 1, odd kernels), ``padding='same'`` with ``pad_values`` 1 or 0 (LCE's one-
  and zero-padding); elsewhere (stride 2 on an even input: ``'same'`` pads the bottom/right
  only, torch both sides) an explicit float zero pad before the sign gives +1 padding
  (sign(0) = +1). Zero padding that LCE cannot run natively (those strides, and inputs smaller
  than the dilated kernel, where LCE 0.16's optimised kernels get zero padding wrong: its
  reference kernel is right) is +1 padding minus a constant, what the padded +1s add to each
  output (:func:`_padding_correction`), subtracted in a way LCE's converter does not fold into
  the bconv's per-channel bias (it folds any constant there without checking its shape).
  Groups: LCE's grouped bconv needs a multiple of 32 input channels per group and runs on the
  indirect BGEMM kernel only; ``--groups split`` (default) makes one bconv per group on channel
  slices, which every kernel runs (``--groups native``: LCE's grouped bconv).
- ``conv2d`` (float): ``Conv2D`` (one per group), torch's padding as ``'same'`` or an explicit
  ``ZeroPadding2D`` (kept apart from the conv: TF 2.16's converter otherwise folds it into the
  conv as ``'same'`` padding, wrongly where ``'same'`` pads otherwise, as for ResNet's 7x7
  stride-2 stem at 224x224); ``maxpool2d``: an explicit ``-inf`` pad where ``'same'`` differs.
- BN as ``BatchNormalization``; ``prelu`` as ``PReLU``; ``tile``/``aggregate``/``gate_mix`` as
  channel concatenations, slices and constant multiplies.
"""
import argparse
import json
import os
import sys

import numpy as np

__all__ = ['build_keras', 'convert', 'count_ops', 'run_interpreter', 'export_job', 'emit_json',
           'INTERPRETER_SETTINGS']

#: Interpreter settings by name: keyword arguments of ``larq_compute_engine.testing.Interpreter``.
INTERPRETER_SETTINGS = {
    'default': dict(),
    'reference': dict(use_reference_bconv=True),
    'indirect_bgemm': dict(use_indirect_bgemm=True),
    'xnnpack': dict(use_xnnpack=True),
    'indirect_bgemm+xnnpack': dict(use_indirect_bgemm=True, use_xnnpack=True),
}


class GraphError(ValueError):
    """A node of the graph that this builder cannot express (the message names it)."""


def emit_json(obj) -> None:
    """Write the JSON result to ``$MMBNN_LCE_JSON`` (see :func:`mmbnn.deploy.lce.env.run_json`),
    or print it."""
    path = os.environ.get('MMBNN_LCE_JSON')
    if path:
        with open(path, 'w') as f:
            json.dump(obj, f, indent=1)
    else:
        print(json.dumps(obj, indent=1))


def _tf():
    os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
    import tensorflow as tf
    return tf


def _same_pads(size, k, s, d):
    """TensorFlow's ``'same'`` padding ``(before, after)`` and output size for one dimension."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2, out


def _torch_out(size, k, s, p, d, ceil_mode=False):
    num = size + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # torch: the last window starts inside
        out -= 1
    return out


def _same_matches(hw, kernel, stride, padding, dilation=(1, 1)):
    """Whether ``'same'`` pads exactly as torch's symmetric ``padding`` does."""
    for size, k, s, p, d in zip(hw, kernel, stride, padding, dilation):
        before, after, out = _same_pads(size, k, s, d)
        if before != p or after != p or out != _torch_out(size, k, s, p, d):
            return False
    return True


def _padding_correction(signs, hw, stride, padding, dilation):
    """What padding with +1 instead of 0 adds to a binary conv's output: ``(H_out, W_out, O)``
    (NHWC), ``sum`` over the taps that fall on the border of the per-tap sums of the signs."""
    (h, w), (sh, sw), (ph, pw), (dh, dw) = hw, stride, padding, dilation
    o, _, kh, kw = signs.shape
    tap = signs.sum(1)  # (O, kh, kw): a padded +1 meets every input channel of the group
    border = np.ones((h + 2 * ph, w + 2 * pw), np.float32)
    border[ph:ph + h, pw:pw + w] = 0
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((ho, wo, o), np.float32)
    for i in range(kh):
        for j in range(kw):
            hit = border[i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw]
            out += hit[:, :, None] * tap[None, None, :, i, j]
    return out


class _Builder:

    def __init__(self, graph, arrays, groups='split'):
        self.tf = _tf()
        import larq  # noqa: F401  (registers the quantizers)
        self.keras = self.tf.keras
        self.graph, self.arrays, self.groups = graph, arrays, groups
        self.shapes = {'input': graph['input']['shape'][1:]}
        for node in graph['nodes']:
            self.shapes[node['name']] = node['shape']
        self.counter = 0

    def arr(self, node, key, dtype='float32'):
        a = self.arrays.get(f'{node["name"]}/{key}')
        return None if a is None else np.asarray(a, dtype=dtype)

    def lname(self, node, suffix=''):
        self.counter += 1
        safe = ''.join(c if c.isalnum() or c in '._-' else '_' for c in node['name'])
        return f'{safe}{suffix}_{self.counter}'.lstrip('._-')

    def fail(self, node, reason):
        raise GraphError(f'{node["source"]} ({node["op"]}): {reason}')

    # -- helpers on NHWC tensors ------------------------------------------------------------
    def const_op(self, x, fn, node, suffix):
        """``fn`` (TF ops on ``x``, a tensor or a list) as a Keras ``Lambda`` layer."""
        # plain TF ops: autograph would parse and transform every lambda's source (minutes)
        fn = self.tf.autograph.experimental.do_not_convert(fn)
        return self.keras.layers.Lambda(fn, name=self.lname(node, suffix))(x)

    def runtime_zero(self, x, node):
        """A (1, 1, 1, 1) zero computed from ``x`` at run time: added to a tensor, it keeps
        TensorFlow's and LCE's converters from folding constants or pads across that point."""
        return self.const_op(x, lambda t: t[:1, :1, :1, :1] * 0.0, node, '_zero')

    def slice_channels(self, x, start, stop, node):
        return self.const_op(x, lambda t: t[..., start:stop], node, '_slice')

    def _concat(self, xs, node):
        if len(xs) == 1:
            return xs[0]
        return self.keras.layers.Concatenate(axis=-1, name=self.lname(node, '_concat'))(xs)

    def per_channel(self, x, vec, node, kind):
        c = self.tf.constant(vec.astype('float32'))
        if kind == 'mul':
            return self.const_op(x, lambda t: t * c, node, '_mul')
        return self.const_op(x, lambda t: t + c, node, '_add')

    # -- ops --------------------------------------------------------------------------------
    def normalize(self, node, x):
        mean, std = self.arr(node, 'mean'), self.arr(node, 'std')
        m, s = self.tf.constant(mean), self.tf.constant(std)
        flip = node['attrs'].get('flip_channels')
        return self.const_op(x, lambda t: ((t[..., ::-1] if flip else t) - m) / s, node, '')

    def _padded(self, node, x, padding, value=0.0):
        ph, pw = padding
        if not ph and not pw:
            return x
        if value == 0.0:
            return self.keras.layers.ZeroPadding2D(((ph, ph), (pw, pw)),
                                                   name=self.lname(node, '_pad'))(x)
        pads = [[0, 0], [ph, ph], [pw, pw], [0, 0]]
        return self.const_op(x, lambda t: self.tf.pad(t, pads, constant_values=value), node,
                             '_pad')

    def _group_convs(self, node, x, groups, make):
        """``make(x_g, g)`` per group on channel slices (or once for groups=1), concatenated."""
        if groups == 1:
            return make(x, 0)
        cin = int(x.shape[-1]) // groups
        return self._concat([make(self.slice_channels(x, g * cin, (g + 1) * cin, node), g)
                            for g in range(groups)], node)

    def conv2d(self, node, x):
        a = node['attrs']
        w = self.arr(node, 'weight')  # (O, I/g, kh, kw)
        bias = self.arr(node, 'bias')
        groups, (kh, kw) = a['groups'], w.shape[2:]
        hw = self.shapes[node['inputs'][0]][1:]
        if _same_matches(hw, (kh, kw), a['stride'], a['padding'], a['dilation']):
            padding = 'same' if any(a['padding']) else 'valid'
        else:
            # TF 2.16's converter folds an explicit pad into the next CONV_2D as 'same' padding
            # even where 'same' pads otherwise (stride 2 on an even input: wrong outputs); a
            # run-time zero added in between keeps the pad where it is
            zero = self.runtime_zero(x, node)
            x, padding = self._padded(node, x, a['padding']), 'valid'
            x = self.const_op([x, zero], lambda ts: ts[0] + ts[1], node, '_keep_pad')
        og = w.shape[0] // groups

        def make(xg, g):
            layer = self.keras.layers.Conv2D(og, (kh, kw), strides=a['stride'], padding=padding,
                                             dilation_rate=a['dilation'],
                                             use_bias=bias is not None,
                                             name=self.lname(node, f'_g{g}'))
            y = layer(xg)
            weights = [w[g * og:(g + 1) * og].transpose(2, 3, 1, 0)]
            if bias is not None:
                weights.append(bias[g * og:(g + 1) * og])
            layer.set_weights(weights)
            return y

        return self._group_convs(node, x, groups, make)

    def bconv2d(self, node, x):
        import larq as lq
        a = node['attrs']
        signs = self.arr(node, 'signs')  # (O, I/g, kh, kw) in {-1, +1}
        scale, bias, thr = (self.arr(node, k) for k in ('scale', 'bias', 'threshold'))
        groups, (kh, kw) = a['groups'], signs.shape[2:]
        hw = self.shapes[node['inputs'][0]][1:]
        stride, padding, dilation = list(a['stride']), a['padding'], a['dilation']
        pad_value = float(a['pad_value'])
        if thr is not None:
            x = self.per_channel(x, -thr, node, 'add')
        source = x
        same = _same_matches(hw, (kh, kw), stride, padding, dilation)
        # LCE 0.16's optimised kernels (not its reference one) compute zero padding wrongly
        # where the input is smaller than the (dilated) kernel; one-padding is right everywhere
        fits = all(size >= d * (k - 1) + 1 for size, k, d in zip(hw, (kh, kw), dilation))
        correct = None
        if not any(padding):
            conv_padding = 'valid'
        elif same and (pad_value == 1.0 or fits):
            conv_padding = 'same'  # LCE's own one- or zero-padding
        else:
            # pad with +1 (a float 0 before the sign: sign(0) = +1); for zero padding subtract
            # what the padded +1s add: a constant per output position and channel
            if not same:
                x = self._padded(node, x, padding)
            conv_padding, pad_value = ('same' if same else 'valid'), 1.0
            if float(a['pad_value']) == 0.0:
                correct = _padding_correction(signs, hw, stride, padding, dilation)
        cin_g = signs.shape[1]
        native = groups > 1 and self.groups == 'native'
        if native and cin_g % 32:
            self.fail(node, f'{cin_g} input channels per group: LCE\'s grouped bconv needs a '
                      'multiple of 32 (use --groups split)')
        og = signs.shape[0] // (1 if native else groups)

        def make(xg, g):
            layer = lq.layers.QuantConv2D(
                og * (groups if native else 1), (kh, kw), strides=stride, padding=conv_padding,
                pad_values=pad_value if conv_padding == 'same' else 0.0,
                dilation_rate=dilation, groups=groups if native else 1, use_bias=False,
                input_quantizer='ste_sign', kernel_quantizer='ste_sign',
                kernel_constraint='weight_clip', name=self.lname(node, f'_g{g}'))
            y = layer(xg)
            part = signs if native else signs[g * og:(g + 1) * og]
            layer.set_weights([part.transpose(2, 3, 1, 0)])
            return y

        y = make(x, 0) if native else self._group_convs(node, x, groups, make)
        y = self.per_channel(y, scale, node, 'mul')
        if correct is not None:
            # LCE 0.16 folds any constant added to a bconv's output into its per-channel bias,
            # without checking the shape; a constant made at run time (0 * one input value)
            # is not folded
            corr = self.tf.constant((correct * scale)[None].astype('float32'))
            zero = self.runtime_zero(source, node)
            y = self.const_op([y, zero], lambda ts: ts[0] - (ts[1] + corr), node, '_zero_pad')
        if bias is not None:
            y = self.per_channel(y, bias, node, 'add')
        return y

    def batchnorm(self, node, x):
        layer = self.keras.layers.BatchNormalization(epsilon=node['attrs']['eps'],
                                                     name=self.lname(node))
        y = layer(x)
        layer.set_weights([self.arr(node, k) for k in ('weight', 'bias', 'mean', 'var')])
        return y

    def relu(self, node, x):
        return self.keras.layers.ReLU(name=self.lname(node))(x)

    def prelu(self, node, x):
        shared = [1, 2] if len(x.shape) == 4 else None
        layer = self.keras.layers.PReLU(shared_axes=shared, name=self.lname(node))
        y = layer(x)
        slope = self.arr(node, 'slope')
        layer.set_weights([slope.reshape(layer.get_weights()[0].shape)])
        return y

    def bias_add(self, node, x):
        return self.per_channel(x, self.arr(node, 'bias'), node, 'add')

    def add(self, node, x, y):
        return self.keras.layers.Add(name=self.lname(node))([x, y])

    def tile(self, node, x):
        return self._concat([x] * node['attrs']['times'], node)

    def slice(self, node, x):
        return self.slice_channels(x, node['attrs']['start'], node['attrs']['stop'], node)

    def concat(self, node, *xs):
        return self._concat(list(xs), node)

    def aggregate(self, node, x):
        k = node['attrs']['bases']
        lam = self.arr(node, 'scales')
        c = int(x.shape[-1]) // k
        parts = [self.const_op(self.slice_channels(x, i * c, (i + 1) * c, node),
                               lambda t, v=float(lam[i]): t * v, node, f'_lambda{i}')
                 for i in range(k)]
        return parts[0] if k == 1 else self.keras.layers.Add(name=self.lname(node))(parts)

    def gate_mix(self, node, x, own):
        k, gate = node['attrs']['bases'], self.arr(node, 'gate')
        c = int(x.shape[-1])
        g = np.repeat(gate, c).astype('float32')
        mixed_own = self.per_channel(own, g, node, 'mul')
        mixed_x = self.per_channel(self.tile(dict(node, attrs=dict(times=k)), x), 1 - g, node,
                                   'mul')
        return self.keras.layers.Add(name=self.lname(node))([mixed_own, mixed_x])

    def maxpool2d(self, node, x):
        a = node['attrs']
        hw = self.shapes[node['inputs'][0]][1:]
        if list(a['dilation']) != [1, 1]:
            self.fail(node, 'dilated max pooling')
        out = [_torch_out(s, k, st, p, 1, a['ceil_mode'])
               for s, k, st, p in zip(hw, a['kernel'], a['stride'], a['padding'])]
        if _same_matches(hw, a['kernel'], a['stride'], a['padding']) and out == [
                _same_pads(s, k, st, 1)[2] for s, k, st in zip(hw, a['kernel'], a['stride'])]:
            padding = 'same' if any(a['padding']) else 'valid'
        else:
            x, padding = self._padded(node, x, a['padding'], -np.inf), 'valid'
            valid = [(s + 2 * p - k) // st + 1
                     for s, k, st, p in zip(hw, a['kernel'], a['stride'], a['padding'])]
            if valid != out:
                self.fail(node, f'ceil_mode output {out} differs from {valid}')
        return self.keras.layers.MaxPooling2D(a['kernel'], a['stride'], padding=padding,
                                              name=self.lname(node))(x)

    def avgpool2d(self, node, x):
        a = node['attrs']
        hw = self.shapes[node['inputs'][0]][1:]
        out = [_torch_out(s, k, st, p, 1, a['ceil_mode'])
               for s, k, st, p in zip(hw, a['kernel'], a['stride'], a['padding'])]
        valid = [(s + 2 * p - k) // st + 1
                 for s, k, st, p in zip(hw, a['kernel'], a['stride'], a['padding'])]
        if not any(a['padding']) and out == valid:
            padding = 'valid'
        elif (not a['count_include_pad'] or not any(a['padding'])) and all(
                _same_pads(s, k, st, 1)[0] == p and _same_pads(s, k, st, 1)[2] == o
                for s, k, st, p, o in zip(hw, a['kernel'], a['stride'], a['padding'], out)):
            padding = 'same'  # TensorFlow's 'same' average excludes the padding
        elif a['count_include_pad'] and out == valid:
            x, padding = self._padded(node, x, a['padding']), 'valid'
        else:
            self.fail(node, f'average pooling {a} at input {hw} has no TFLite equivalent')
        return self.keras.layers.AveragePooling2D(a['kernel'], a['stride'], padding=padding,
                                                  name=self.lname(node))(x)

    def global_avgpool(self, node, x):
        return self.keras.layers.GlobalAveragePooling2D(name=self.lname(node))(x)

    def linear(self, node, x):
        w, b = self.arr(node, 'weight'), self.arr(node, 'bias')
        layer = self.keras.layers.Dense(w.shape[0], use_bias=b is not None,
                                        name=self.lname(node))
        y = layer(x)
        layer.set_weights([w.T] + ([b] if b is not None else []))
        return y

    def build(self):
        n, c, h, w = self.graph['input']['shape']
        inp = self.keras.Input((h, w, c), batch_size=n, name='input')
        values = {'input': inp}
        for node in self.graph['nodes']:
            fn = getattr(self, node['op'], None)
            if fn is None:
                self.fail(node, 'op unknown to this builder')
            y = fn(node, *[values[i] for i in node['inputs']])
            want = node['shape']
            got = list(y.shape[1:])
            want = want if len(want) == 1 else [want[1], want[2], want[0]]
            if got != want:
                self.fail(node, f'built with shape {got}, the graph says {want}')
            values[node['name']] = y
        outs = [values[o] for o in self.graph['outputs']]
        return self.keras.Model(inp, outs if len(outs) > 1 else outs[0], name='mmbnn_export')


def build_keras(graph: dict, arrays: dict, groups: str = 'split'):
    """The graph as a Keras (``tf_keras``) model with larq layers, weights loaded."""
    _tf()
    from tensorflow.python.autograph.core import ag_ctx
    # the layers' calls are straight-line TF code: without autograph's source transformations
    # a ResNet-18 graph builds in seconds instead of minutes (TF 2.16's internal switch)
    with ag_ctx.ControlStatusCtx(status=ag_ctx.Status.DISABLED):
        return _Builder(graph, arrays, groups).build()


def convert(keras_model, via: str = 'function') -> bytes:
    """The model converted by Larq Compute Engine (target arm).

    ``via='keras'``: ``larq_compute_engine.convert_keras_model(model, target='arm')``, which
    saves the Keras model as a SavedModel (tracing every layer's call for Keras' serialization:
    minutes for a ResNet-18 graph of ~130 layers) and converts that with
    ``convert_saved_model``. ``via='function'`` (default): a SavedModel holding only the model's
    one serving function and its variables, converted by the same
    ``larq_compute_engine.convert_saved_model``; the same graph for the converter, without the
    per-layer traces.
    """
    import tempfile

    import larq_compute_engine as lce
    from tensorflow.python.autograph.core import ag_ctx
    if via == 'keras':
        with ag_ctx.ControlStatusCtx(status=ag_ctx.Status.DISABLED):
            return lce.convert_keras_model(keras_model, target='arm')
    if via != 'function':
        raise ValueError(f"via must be 'function' or 'keras', got {via!r}")
    tf = _tf()
    spec = [tf.TensorSpec(t.shape, t.dtype) for t in keras_model.inputs]
    serve = tf.function(lambda *xs: keras_model(list(xs) if len(xs) > 1 else xs[0],
                                                training=False), input_signature=spec,
                        autograph=False)  # the graph has no Python control flow
    module = tf.Module()
    module.variables_ = list(keras_model.variables)  # tracked: the function captures them
    module.serve = serve
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures={'serving_default': serve})
        return lce.convert_saved_model(tmp, target='arm')


def count_ops(flatbuffer: bytes) -> dict:
    """Op name -> count in a ``.tflite`` flatbuffer (``LceBconv2d``, ``CONV_2D``, ...)."""
    _tf()
    from tensorflow.lite.python import schema_py_generated as schema
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(flatbuffer), 0))
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith('_')}
    names = []
    for code in model.operatorCodes:
        op = max(code.builtinCode, code.deprecatedBuiltinCode)
        custom = code.customCode.decode() if code.customCode else None
        names.append(custom or builtin.get(op, str(op)))
    counts = {}
    for sub in model.subgraphs:
        for op in sub.operators:
            counts[names[op.opcodeIndex]] = counts.get(names[op.opcodeIndex], 0) + 1
    return dict(sorted(counts.items()))


def run_interpreter(flatbuffer: bytes, x_nhwc: np.ndarray, num_threads: int = 1,
                    **settings) -> np.ndarray:
    """LCE's interpreter (``larq_compute_engine.testing.Interpreter``) on every image of
    ``x_nhwc`` (one at a time; a batch-1 model)."""
    import larq_compute_engine as lce
    interp = lce.testing.Interpreter(flatbuffer, num_threads=num_threads, **settings)
    out = interp.predict(np.ascontiguousarray(x_nhwc, dtype=np.float32))
    return np.asarray(out[-1] if isinstance(out, list) else out)


def _nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def _nhwc_to_nchw(y: np.ndarray) -> np.ndarray:
    return y.transpose(0, 3, 1, 2) if y.ndim == 4 else y


def export_job(prefix: str, out: str, inputs=None, settings=('default', ), threads: int = 1,
               groups: str = 'split', via: str = 'function', keras: bool = False) -> dict:
    """Build, convert and write one graph (see the module docstring); with ``inputs`` (an .npy
    of NCHW images) run them through the interpreter with each setting and write the outputs to
    ``OUT.outputs.npz``. Returns the JSON-able result (``error`` for a graph LCE cannot take)."""
    with open(prefix + '.json') as f:
        graph = json.load(f)
    with np.load(prefix + '.npz') as z:
        arrays = {k: z[k] for k in z.files}
    result = dict(tflite=out)
    try:
        model = build_keras(graph, arrays, groups)
    except GraphError as e:
        result['error'] = str(e)
        return result
    flatbuffer = convert(model, via)
    with open(out, 'wb') as f:
        f.write(flatbuffer)
    ops = count_ops(flatbuffer)
    import larq_compute_engine as lce
    import tensorflow as tf
    result.update(tflite_bytes=len(flatbuffer), ops=ops, lce_bconv2d=ops.get('LceBconv2d', 0),
                  graph_binary_convs=graph['summary']['binary_convs'],
                  versions=dict(larq_compute_engine=lce.__version__, tensorflow=tf.__version__))
    if inputs:
        x = _nchw_to_nhwc(np.load(inputs).astype(np.float32))
        outs = {name: run_interpreter(flatbuffer, x, threads, **INTERPRETER_SETTINGS[name])
                for name in settings}
        if keras:
            outs['keras'] = np.asarray(model.predict(x, batch_size=graph['input']['shape'][0],
                                                     verbose=0))
        path = out + '.outputs.npz'
        np.savez(path, **{k: _nhwc_to_nchw(v) for k, v in outs.items()})
        result['outputs'] = path
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('prefix', nargs='?', help='the graph: PREFIX.json and PREFIX.npz')
    p.add_argument('out', nargs='?', help='the .tflite to write')
    p.add_argument('--jobs', help='a JSON list of {prefix, out, inputs} to export in this one '
                   'process (instead of PREFIX OUT); the result is {"jobs": [...]}')
    p.add_argument('--inputs', help='X.npy (N, C, H, W) to run through the interpreter')
    p.add_argument('--settings', nargs='+', default=['default'],
                   choices=sorted(INTERPRETER_SETTINGS), help='interpreter settings to run')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--groups', default='split', choices=['split', 'native'],
                   help="grouped bconvs: one bconv per group ('split', runs on every kernel) "
                   "or LCE's grouped bconv ('native': indirect BGEMM only, 32k channels per "
                   'group)')
    p.add_argument('--via', default='function', choices=['function', 'keras'],
                   help="conversion: LCE's convert_saved_model on the model's serving function "
                   "(default, fast) or LCE's convert_keras_model")
    p.add_argument('--keras', action='store_true',
                   help="also run the Keras model in float (larq's simulated sign)")
    args = p.parse_args(argv)
    common = dict(settings=args.settings, threads=args.threads, groups=args.groups, via=args.via,
                  keras=args.keras)
    if args.jobs:
        with open(args.jobs) as f:
            jobs = json.load(f)
        emit_json(dict(jobs=[export_job(j['prefix'], j['out'], j.get('inputs'), **common)
                             for j in jobs]))
        return 0
    if not (args.prefix and args.out):
        p.error('give PREFIX and OUT, or --jobs')
    result = export_job(args.prefix, args.out, args.inputs, **common)
    emit_json(result)
    return 2 if 'error' in result else 0


if __name__ == '__main__':
    sys.exit(main())
