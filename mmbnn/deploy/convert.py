"""``convert(model)``: the eval-only model whose binary layers run on the bit-packed kernels."""
import copy
import warnings
from typing import Callable, List, Optional, Tuple, Union

import torch
from torch import nn

from .converters import NotConvertible, NotFusable, find_converter
from .fusion import fuse_epilogues
from . import layer_converters  # noqa: F401  (registers the converters of mmbnn's layers)
from . import fused_resnet  # noqa: F401  (registers the fused engine of the binary ResNets)

__all__ = ['convert', 'simulated_layers', 'unfused', 'example_forward']


def _looks_binary(m: nn.Module) -> bool:
    return getattr(m, 'act_binarizer', None) is not None or \
        getattr(m, 'weight_binarizer', None) is not None


def example_forward(model: nn.Module, example_inputs) -> Callable[[], object]:
    """A function running ``model`` on ``example_inputs`` (a tensor or a tuple of arguments);
    mmengine models (``BaseModel``) run in ``mode='tensor'``."""
    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs, )
    if hasattr(model, 'data_preprocessor') and hasattr(model, 'test_step'):
        return lambda: model(*args, mode='tensor')
    return lambda: model(*args)


def convert(model: nn.Module, *, inplace: bool = False, fuse: bool = True,
            example_inputs: Union[None, torch.Tensor, Tuple] = None,
            warn: bool = True) -> nn.Module:
    """Replace every binary layer the kernels can run by its bit-packed inference module.

    Each module with a registered converter (:mod:`mmbnn.deploy.converters`) is replaced by a
    module that takes the same input and returns the same output (up to float rounding),
    computed by xor/popcount over packed bits, top-down: a binary ResNet backbone
    (``GroupNetResNet``: BNN, XNOR, Bi-Real, IR-Net, ReActNet-style, Group-Net) becomes ONE fused
    engine (:mod:`mmbnn.deploy.fused_resnet`: channels-last throughout, BN, activations, residual
    adds and Group-Net's sum of bases in the kernels' epilogues, activations handed from binary
    conv to binary conv as packed bits); where that engine cannot express the backbone (listed by
    :func:`unfused`), and in every other model, each binary layer (``BinaryConv2d``,
    ``MultiDilationBinaryConv2d``, ``MultiBaseBinaryConv2d``, ``BinaryLinear`` and any class
    registered later) is replaced on its own. Everything else (stems, classifiers, FPN and heads)
    keeps running in torch. Binary layers the kernels cannot run (no sign activation binarizer,
    k-bit or sparse weights, reflect padding, no converter) stay simulated and are listed in ONE
    warning.

    With ``fuse`` and an example input, the BN and ReLU modules that alone consume a converted
    layer's output are folded into its epilogue (:func:`~mmbnn.deploy.fusion.fuse_epilogues`).
    ``fuse=False`` also skips the fused engines (every binary layer on its own, nothing folded).

    Args:
        model (nn.Module): A trained model (any toolbox). Its weights are read once: the packed
            bits and scales are what the result holds.
        inplace (bool): Convert ``model`` itself; else a deep copy. Default: False.
        fuse (bool): Use the fused engines, and fold BN/ReLU into the epilogues of the other
            binary layers (that needs ``example_inputs``). Default: True.
        example_inputs (Tensor | tuple, optional): An input to trace the data flow with, e.g.
            ``torch.zeros(1, 3, 224, 224)``; mmengine models run it in ``mode='tensor'``.
            Default: None (no folding).
        warn (bool): Warn about the layers that stay simulated. Default: True.

    Returns:
        nn.Module: The converted model, in eval mode; its bit-packed modules refuse
        ``train()``.
    """
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    simulated: List[Tuple[str, str, str]] = []
    declined: List[Tuple[str, str, str]] = []

    def replace(m: nn.Module, name: str) -> Optional[nn.Module]:
        fn = find_converter(m, engines=fuse)
        if fn is None:
            if _looks_binary(m):
                simulated.append((name, type(m).__name__,
                                  'no converter registered for this type'))
            return None
        try:
            new = fn(m)
        except NotFusable as e:  # convert its children instead
            declined.append((name, type(m).__name__, str(e)))
            return None
        except NotConvertible as e:
            simulated.append((name, type(m).__name__, str(e)))
            return None
        return new.eval()

    def visit(parent: nn.Module, prefix: str) -> None:
        for name, child in list(parent.named_children()):
            full = f'{prefix}.{name}' if prefix else name
            new = replace(child, full)
            if new is not None:
                setattr(parent, name, new)
            elif not _looks_binary(child):
                visit(child, full)

    root = replace(model, '(model)')
    if root is not None:
        model = root
    elif not _looks_binary(model):
        visit(model, '')
    if simulated and warn:
        lines = '\n'.join(f'  {n} ({t}): {r}' for n, t, r in simulated)
        warnings.warn(f'mmbnn.deploy.convert: {len(simulated)} binary layer(s) stay simulated '
                      f'(float sign + conv):\n{lines}', stacklevel=2)
    model._mmbnn_simulated = simulated
    model._mmbnn_unfused = declined
    if fuse and example_inputs is not None:
        model._mmbnn_folded = fuse_epilogues(model, example_forward(model, example_inputs))
    return model


def simulated_layers(model: nn.Module) -> List[Tuple[str, str, str]]:
    """``(name, type, reason)`` of the binary layers :func:`convert` left simulated."""
    return list(getattr(model, '_mmbnn_simulated', []))


def unfused(model: nn.Module) -> List[Tuple[str, str, str]]:
    """``(name, type, reason)`` of the modules with a fused engine (binary ResNet backbones)
    that :func:`convert` converted layer by layer instead."""
    return list(getattr(model, '_mmbnn_unfused', []))
