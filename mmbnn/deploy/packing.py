"""Packed 1-bit checkpoints: the weights of binary layers stored as bits, plus their scales.

A binary layer (any module with a ``weight_binarizer`` whose ``weight_bits == 1``, such as
:class:`~mmbnn.layers.BinaryConv2d`, :class:`~mmbnn.layers.BinaryLinear` and
:class:`~mmbnn.layers.MultiBaseBinaryConv2d`) computes with the effective weight
``q(W) = signs * scale (+ offset)`` that its binarizer's ``binary_parts`` returns. Packing stores

- ``words``: the signs of ``q(W)`` in the 1-bit kernels' own layout (:mod:`mmbnn.ops.bitpack`,
  :func:`sign_words`): int64 words, one row of ``KH * KW * ceil(C_in / 64)`` per output channel,
  tap-major, input channels LSB first, **bit 1 for -1** (sign(0) = +1), tail bits 0; a linear
  layer's (out, in) weight as an (out, in, 1, 1) conv's. The converter
  (:func:`mmbnn.deploy.convert`) hands these words to the kernels as they are: one convention
  from the file to the kernel. (Version 1 files stored ``bits``: ``np.packbits`` of the
  flattened signs, MSB first, bit 1 for +1; they still load.);
- ``scale`` (and ``offset``, for binarizers with one) as the binarizer returns them, in the
  weight's dtype: one value per output channel (XNOR-Net) or per layer (Group-Net's code);
- ``shape`` (a list of ints) and ``dtype`` (a string),
- for sparse layers whose binarizer has ``sparse_parts``
  (:class:`~mmbnn.binarizers.PrunedSignWeight`): ``mask``, the 0/1 mask of the kept weights in the
  same word layout (bit 1 = kept: :func:`mmbnn.ops.pack_masks`, what the sparse kernel reads), so
  that the weight is ``signs * scale * mask (+ offset)`` and ``scale`` stays one value per layer
  or channel (not a full-size tensor that is 0 at the pruned weights); the sign of a pruned
  weight is +1. For :class:`~mmbnn.binarizers.SparseBinaryWeight` the words hold the signs of
  ``offset +- scale`` (bit 0 = value ``offset + scale``, bit 1 = ``offset - scale``), ``scale``
  its ``tau`` and ``offset`` its ``phi``,

and drops the layer's latent float ``weight`` and its binarizer's own state (a learned scale is
folded into ``scale``). Every other tensor (stem, classifier, BN, shortcuts, activation
binarizers' parameters) stays as it is in ``state_dict``. The file holds only tensors, containers
and primitives, so :func:`mmbnn.utils.safe_load` (``weights_only=True``) loads it.

Loading (:func:`load_packed`) rebuilds ``signs * scale (+ offset)`` exactly, stores it as the
layer's weight and replaces the layer's binarizer by :class:`~mmbnn.binarizers.packed.
PackedBinaryWeight`, which returns its input unchanged: the model then computes with bit-for-bit
the weights of the original, and gives ``torch.equal`` outputs in eval mode. (Re-binarizing the
rebuilt weight with the original binarizer would not do: IR-Net's standardisation, for one, does
not give back its own output.) Packing checks this round trip for every layer and leaves a layer
whose binarizer breaks it, or has no ``binary_parts`` (k-bit quantisers), in full precision,
listed in ``meta['packing']['unpacked_binary_layers']`` with the reason. Per packed layer,
``meta['packing']['layers']`` says what packing saved: ``float_bytes`` (the weight in its float
dtype), ``packed_bytes`` (bits, mask, scale and offset) and ``saved_bytes`` (their difference).

Loading through any ordinary checkpoint path (``load_from``, ``init_cfg=dict(type='Pretrained',
...)``, mmengine's ``load_checkpoint``, ``model.load_state_dict``): mmbnn's checkpoint loaders
(``mmbnn://`` and local files) hand a packed file over as :func:`as_loadable_checkpoint`, an
ordinary state dict with each packed layer's rebuilt weight as ``<layer>.weight`` plus its
``scale`` (``offset``, ``mask``) under ``<layer>.weight_binarizer.packed_*``
(:data:`PACKED_BINARIZER_KEYS`). Every module that has a ``weight_binarizer`` child carries a
load-state-dict pre-hook (:func:`mmbnn.binarizers.packed.load_packed_binarizer`, which every
binary layer registers when it builds its binarizers): when its keys are there it
consumes them and gives the layer a ``PackedBinaryWeight``, exactly as :func:`load_packed` does,
so the float model computes with bit-for-bit the packed weights. The hook does nothing for
ordinary checkpoints.
"""
import copy
import math
import warnings
from collections import OrderedDict
from typing import Dict, Iterator, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.runner import CheckpointLoader
from torch import nn

from mmbnn.utils.checkpoint import register_checkpoint_reader
from mmbnn.binarizers.packed import PACKED_BINARIZER_KEYS, PackedBinaryWeight
from mmbnn.ops.bitpack import pack_weights, unpack_weights

__all__ = ['PACKED_FORMAT', 'PACKED_VERSION', 'READABLE_VERSIONS', 'binary_layers', 'pack_bits',
           'unpack_bits', 'sign_words', 'words_to_signs', 'pack_model', 'unpack_state_dict',
           'load_packed', 'is_packed', 'packed_sizes', 'loadable_state_dict',
           'as_loadable_checkpoint', 'PACKED_BINARIZER_KEYS']

PACKED_FORMAT = 'mmbnn-packed-1bit'
#: The version :func:`pack_model` writes (2: the kernels' word layout) and the ones it reads.
PACKED_VERSION = 2
READABLE_VERSIONS = (1, 2)
_DTYPES = {str(t).replace('torch.', ''): t
           for t in (torch.float16, torch.bfloat16, torch.float32, torch.float64)}


def binary_layers(model: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """``(name, module)`` of every module with a 1-bit weight binarizer (``weight_bits == 1``)
    and a ``weight`` tensor."""
    for name, m in model.named_modules():
        if getattr(m, 'weight_binarizer', None) is not None and \
                getattr(m, 'weight_bits', None) == 1 and isinstance(
                    getattr(m, 'weight', None), torch.Tensor):
            yield name, m


def _as_conv(shape) -> Tuple[int, ...]:
    """A weight's shape as a conv's (C_out, C_in, KH, KW): 4-D as it is, anything else as a
    1x1 conv over its flattened trailing dimensions (a linear layer's (out, in) included)."""
    shape = tuple(int(v) for v in shape)
    if len(shape) == 4:
        return shape
    return (shape[0], math.prod(shape[1:]), 1, 1)


def sign_words(signs: torch.Tensor) -> torch.Tensor:
    """``{-1, +1}`` signs of a weight -> int64 words in the kernels' layout
    (:func:`mmbnn.ops.pack_weights` of the weight as a conv's, module docstring)."""
    return pack_weights(signs.detach().cpu().reshape(_as_conv(signs.shape)))


def words_to_signs(words: torch.Tensor, shape, dtype: torch.dtype = torch.float32
                   ) -> torch.Tensor:
    """The inverse of :func:`sign_words`: ``{-1, +1}`` of ``shape`` and ``dtype``."""
    cout, cin, kh, kw = _as_conv(shape)
    expected = (cout, kh * kw * ((cin + 63) // 64))
    if words.dtype != torch.int64 or tuple(words.shape) != expected:
        raise ValueError(f'packed words for shape {list(shape)} must be int64 {list(expected)}, '
                         f'got {words.dtype} {list(words.shape)}')
    return unpack_weights(words, cin, (kh, kw), dtype).reshape(shape)


def pack_bits(signs: torch.Tensor) -> torch.Tensor:
    """``{-1, +1}`` signs -> ``uint8`` tensor of ``ceil(numel / 8)`` bytes (C order, MSB
    first, bit 1 for +1): version 1's layout, kept for reading old files."""
    positive = (signs >= 0).reshape(-1).cpu().numpy()
    return torch.from_numpy(np.packbits(positive))


def unpack_bits(bits: torch.Tensor, shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The inverse of :func:`pack_bits`: ``{-1, +1}`` of ``shape`` and ``dtype``."""
    numel = math.prod(shape)
    if bits.dtype != torch.uint8 or bits.numel() != (numel + 7) // 8:
        raise ValueError(f'packed bits for shape {list(shape)} must be {(numel + 7) // 8} uint8 '
                         f'values, got {bits.numel()} of {bits.dtype}')
    flat = np.unpackbits(bits.cpu().numpy(), count=numel)
    return torch.from_numpy(flat.astype(np.int8)).to(dtype).mul_(2).sub_(1).reshape(shape)


def _entry_signs(entry: dict, dtype: torch.dtype) -> torch.Tensor:
    """The ``{-1, +1}`` signs of a packed entry (version 2 ``words`` or version 1 ``bits``)."""
    if 'words' in entry:
        return words_to_signs(entry['words'], entry['shape'], dtype)
    return unpack_bits(entry['bits'], entry['shape'], dtype)


def _unpack_mask(entry: dict, dtype: torch.dtype) -> torch.Tensor:
    """The 0/1 mask of a packed sparse entry, in ``dtype`` (version 2: bit 1 = kept, in the
    word layout; version 1: bit 1 = kept, ``np.packbits``)."""
    if 'words' in entry:
        return (words_to_signs(entry['mask'], entry['shape'], dtype) < 0).to(dtype)
    return unpack_bits(entry['mask'], entry['shape'], dtype).add_(1).div_(2)


def _rebuild(entry: dict) -> torch.Tensor:
    dtype = _DTYPES[entry['dtype']]
    w = _entry_signs(entry, dtype) * entry['scale']
    if entry.get('mask') is not None:
        w = w * _unpack_mask(entry, dtype)
    if entry.get('offset') is not None:
        w = w + entry['offset']
    return w


def _parts(binarizer: nn.Module, w: torch.Tensor):
    """``(signs, mask, scale, offset)`` of a binarizer: its ``sparse_parts`` if it has one (a
    mask and a compact scale), else its ``binary_parts`` with no mask."""
    sparse_parts = getattr(binarizer, 'sparse_parts', None)
    if callable(sparse_parts):
        return sparse_parts(w)
    signs, scale, offset = binarizer.binary_parts(w)
    return signs, None, scale, offset


def _pack_layer(m: nn.Module) -> dict:
    """The packed entry of one binary layer; raises if its parts do not rebuild its weight."""
    w = m.weight.detach()
    signs, mask, scale, offset = _parts(m.weight_binarizer, w)
    expected = m.weight_binarizer(w)
    if tuple(signs.shape) != tuple(w.shape):
        raise ValueError(f'signs have shape {tuple(signs.shape)}, the weight {tuple(w.shape)}')
    if not bool((signs.abs() == 1).all()):
        raise ValueError('binary_parts returned signs outside {-1, +1}')
    entry = dict(words=sign_words(signs), shape=list(w.shape), dtype=str(w.dtype).split('.')[-1],
                 scale=torch.as_tensor(scale).detach().cpu().clone().contiguous(),
                 binarizer=type(m.weight_binarizer).__name__)
    if entry['dtype'] not in _DTYPES:
        raise ValueError(f'weights of dtype {w.dtype} are not supported')
    if mask is not None:
        if tuple(mask.shape) != tuple(w.shape):
            raise ValueError(f'the mask has shape {tuple(mask.shape)}, the weight '
                             f'{tuple(w.shape)}')
        entry['mask'] = sign_words(torch.where(mask.bool(), -1.0, 1.0))  # bit 1 = kept
    if offset is not None:
        entry['offset'] = torch.as_tensor(offset).detach().cpu().clone().contiguous()
    rebuilt = _rebuild(entry)
    if rebuilt.shape != expected.shape or rebuilt.dtype != expected.dtype or \
            not torch.equal(rebuilt, expected.cpu()):
        raise ValueError('signs * scale (* mask) (+ offset) from the binarizer\'s parts differs '
                         "from the binarizer's output")
    return entry


def _entry_bytes(entry: dict) -> int:
    """Bytes of a packed entry's tensors: words (or bits), mask, scale, offset."""
    return sum(_nbytes(entry[k]) for k in ('words', 'bits', 'mask', 'scale', 'offset')
               if entry.get(k) is not None)


def _float_bytes(entry: dict) -> int:
    return math.prod(entry['shape']) * _DTYPES[entry['dtype']].itemsize


def pack_model(model: nn.Module, meta: Optional[dict] = None) -> dict:
    """A packed checkpoint of ``model`` (its current weights).

    Returns:
        dict: ``meta`` (a copy of ``meta`` with ``packed_layers``, the names of the packed layers,
        and ``packing``: format, version, bit layout, sizes, per packed layer its float, packed
        and saved bytes (``layers``) and the binary layers left in full precision with the
        reason), ``state_dict`` (every tensor but the packed layers' weights
        and their weight binarizers' state) and ``packed_weights`` (``{layer name: dict(bits,
        shape, dtype, scale[, mask][, offset], binarizer)}``).
    """
    was_training = model.training
    model.eval()
    packed, skipped = OrderedDict(), OrderedDict()
    try:
        with torch.no_grad():
            for name, m in binary_layers(model):
                try:
                    packed[name] = _pack_layer(m)
                except (NotImplementedError, ValueError, TypeError, RuntimeError) as e:
                    skipped[name] = f'{type(m.weight_binarizer).__name__}: {e}'
    finally:
        model.train(was_training)
    for name, reason in skipped.items():
        warnings.warn(f'binary layer {name!r} is kept in full precision: {reason}')

    drop = set()
    for name in packed:
        prefix = f'{name}.' if name else ''
        drop.add(prefix + 'weight')
        drop.update(prefix + 'weight_binarizer.' + k
                    for k in model.get_submodule(name).weight_binarizer.state_dict())
    state = OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items()
                        if k not in drop)
    meta = copy.deepcopy(meta) if meta else {}
    meta['packed_layers'] = list(packed)
    meta['packing'] = dict(
        format=PACKED_FORMAT, version=PACKED_VERSION, weight_bits=1,
        bit_layout='int64 words of the 1-bit kernels (mmbnn.ops.pack_weights of the weight as '
        'a conv\'s): one row of KH*KW*ceil(C_in/64) words per output channel, tap-major, '
        'channels LSB first; bit 1 = -1, bit 0 = +1; sign(0) = +1; tail bits 0',
        unpacked_binary_layers=dict(skipped),
        layers={name: dict(binarizer=e['binarizer'], float_bytes=_float_bytes(e),
                           packed_bytes=_entry_bytes(e),
                           saved_bytes=_float_bytes(e) - _entry_bytes(e))
                for name, e in packed.items()})
    ckpt = dict(meta=meta, state_dict=state, packed_weights=packed)
    meta['packing'].update(packed_sizes(ckpt))
    return ckpt


def is_packed(checkpoint: dict) -> bool:
    """Whether ``checkpoint`` is a packed checkpoint of this format."""
    return isinstance(checkpoint, dict) and 'packed_weights' in checkpoint and \
        (checkpoint.get('meta') or {}).get('packing', {}).get('format') == PACKED_FORMAT


def _check_packed(checkpoint: dict) -> None:
    if not is_packed(checkpoint):
        raise ValueError(f'not a packed checkpoint ({PACKED_FORMAT}): pack it with '
                         f'tools/deploy/pack.py, or load it with mmengine\'s load_checkpoint')
    version = checkpoint['meta']['packing'].get('version')
    if version not in READABLE_VERSIONS:
        raise ValueError(f'packed checkpoint version {version} is not supported (this mmbnn '
                         f'reads versions {list(READABLE_VERSIONS)})')


def unpack_state_dict(checkpoint: dict
                      ) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, PackedBinaryWeight]]:
    """The float ``state_dict`` of a packed checkpoint and the binarizers its layers need.

    Returns:
        tuple: ``state_dict`` with each packed layer's effective weight ``signs * scale
        (+ offset)`` as ``<layer>.weight``, and ``{layer name: PackedBinaryWeight}``, the weight
        binarizer to give each packed layer before loading ``state_dict`` into the model (its
        original binarizer would binarize the weight again).
    """
    _check_packed(checkpoint)
    state = OrderedDict(checkpoint['state_dict'])
    binarizers = OrderedDict()
    for name, entry in checkpoint['packed_weights'].items():
        state[f'{name}.weight' if name else 'weight'] = _rebuild(entry)
        mask = _unpack_mask(entry, torch.float32).bool() if entry.get('mask') is not None \
            else None
        words = entry['words'] if 'words' in entry else \
            sign_words(_entry_signs(entry, torch.float32))
        binarizers[name] = PackedBinaryWeight(entry['scale'], entry.get('offset'), mask=mask,
                                              words=words)
    return state, binarizers


#: The keys, under a packed layer's prefix, that carry its frozen binarizer in a loadable state
#: dict (:func:`loadable_state_dict`): scale, offset (optional) and boolean mask (optional).


def loadable_state_dict(checkpoint: dict) -> 'OrderedDict[str, torch.Tensor]':
    """An ordinary ``state_dict`` of a packed checkpoint, loadable into the float model by any
    loader: :func:`unpack_state_dict`'s weights plus, per packed layer, its binarizer's
    ``scale`` (and ``offset``, ``mask``) under :data:`PACKED_BINARIZER_KEYS`, which the layer's
    load hook turns into a :class:`~mmbnn.binarizers.packed.PackedBinaryWeight` (module
    docstring)."""
    state, binarizers = unpack_state_dict(checkpoint)
    for name, binarizer in binarizers.items():
        prefix = f'{name}.' if name else ''
        for key, value in zip(PACKED_BINARIZER_KEYS, (binarizer.scale, binarizer.offset,
                                                      binarizer.mask, binarizer.words)):
            if value is not None:
                state[prefix + key] = value
    return state


@register_checkpoint_reader  # every local checkpoint load reads packed files too
def as_loadable_checkpoint(checkpoint):
    """``checkpoint`` itself, or for a packed checkpoint ``dict(meta=..., state_dict=
    loadable_state_dict(...))``: what mmbnn's checkpoint loaders return, so that a packed file
    loads wherever a checkpoint path is accepted."""
    if not is_packed(checkpoint):
        return checkpoint
    return dict(meta=checkpoint.get('meta') or {}, state_dict=loadable_state_dict(checkpoint))


def _packed_layers(state: dict):
    """Names of the layers whose frozen binarizer ``state`` carries."""
    suffix = PACKED_BINARIZER_KEYS[0]
    return [k[:-len(suffix)].rstrip('.') for k in state if k.endswith(suffix)]


def load_packed(model: nn.Module, checkpoint: Union[str, dict], map_location='cpu',
                strict: bool = True) -> nn.Module:
    """Load a packed checkpoint into ``model`` (built from the same config as the packed one).

    Each packed layer gets a :class:`~mmbnn.binarizers.packed.PackedBinaryWeight` and its
    effective weight, through :func:`loadable_state_dict` and the layers' load hook (module
    docstring); ``strict`` as for ``load_state_dict``.

    Args:
        model (nn.Module): The model.
        checkpoint (str | dict): A path or URL (anything mmengine's ``CheckpointLoader`` takes,
            ``mmbnn://`` included; local files go through :func:`mmbnn.utils.safe_load`), or the
            loaded dict (a packed checkpoint, or :func:`as_loadable_checkpoint`'s form of one).
        map_location: As for ``torch.load``. Default: ``'cpu'``.
        strict (bool): Require the state dict's keys to match the model's. Default: True.

    Returns:
        nn.Module: ``model``.

    Raises:
        ValueError: Not a packed checkpoint. KeyError: A packed layer is not in the model.
    """
    if not isinstance(checkpoint, dict):
        checkpoint = CheckpointLoader.load_checkpoint(checkpoint, map_location=map_location)
    if is_packed(checkpoint):
        state = loadable_state_dict(checkpoint)
    else:
        state = checkpoint.get('state_dict')
        if not isinstance(state, dict) or not _packed_layers(state):
            _check_packed(checkpoint)  # raises: not a packed checkpoint
    modules = dict(model.named_modules())
    for name in _packed_layers(state):
        m = modules.get(name)
        if m is None or not hasattr(m, 'weight_binarizer'):
            raise KeyError(f'packed layer {name!r} is not a binary layer of this model '
                           f'({type(model).__name__})')
    model.load_state_dict(state, strict=strict)
    return model


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def packed_sizes(checkpoint: dict) -> Dict[str, int]:
    """Tensor bytes of a packed checkpoint (file overhead not counted): ``bits_bytes`` (the
    packed signs, and the masks of sparse layers: in version 2 whole 64-bit words, so a layer of
    fewer than 64 input channels per group pays for the unused bits of its words),
    ``scale_bytes`` (scales and offsets),
    ``binary_float_bytes`` (what the packed weights take in their float dtype), ``fp_bytes``
    (``state_dict``) and ``num_binary_weights``.
    """
    sizes = dict(bits_bytes=0, scale_bytes=0, binary_float_bytes=0, num_binary_weights=0)
    for entry in checkpoint['packed_weights'].values():
        numel = math.prod(entry['shape'])
        sizes['bits_bytes'] += _nbytes(entry['words'] if 'words' in entry else entry['bits']) + (
            _nbytes(entry['mask']) if entry.get('mask') is not None else 0)
        sizes['scale_bytes'] += _nbytes(entry['scale']) + (
            _nbytes(entry['offset']) if entry.get('offset') is not None else 0)
        sizes['binary_float_bytes'] += numel * _DTYPES[entry['dtype']].itemsize
        sizes['num_binary_weights'] += numel
    sizes['fp_bytes'] = sum(_nbytes(v) for v in checkpoint['state_dict'].values()
                            if isinstance(v, torch.Tensor))
    return sizes
