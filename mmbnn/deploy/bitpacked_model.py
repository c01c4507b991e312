"""``mmbnn.BitPackedModel``: a converted model that mmengine's Runner (``tools/test.py``) builds
from a config and evaluates like the original."""
from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader
from torch import nn

from mmbnn.registry import MODELS
from mmbnn.utils.checkpoint import strip_module_prefix
from .convert import convert
from .packing import is_packed, load_packed

__all__ = ['BitPackedModel']


@MODELS.register_module()
class BitPackedModel(BaseModel):
    """Builds ``model`` (a model config of any toolbox), converts it with
    :func:`mmbnn.deploy.convert`, and delegates ``test_step``/``val_step``/``forward`` to it.

    ``python tools/deploy/convert.py CONFIG CHECKPOINT`` writes a config with this wrapper and a
    checkpoint of its state (packed weights, folded epilogues); ``tools/test.py`` then builds the
    same structure from the config and loads that checkpoint. The structure depends only on the
    config (layer and binarizer types, and the data flow traced on a zero input), never on the
    weights, and loading refuses a checkpoint whose keys differ.

    Args:
        model (dict | nn.Module): The original model's config, or the model itself (built and
            loaded; it is converted in place).
        scope (str): The default scope its types resolve in (the original config's
            ``default_scope``: ``'mmpretrain'``, ``'mmdet'``, ``'mmseg'``...).
        checkpoint (str, optional): Weights to load BEFORE converting: a float checkpoint of the
            original model, or a packed one (``tools/deploy/pack.py``). Default: None (the
            weights come from the converted checkpoint that the Runner loads afterwards).
        fuse_input_shape (Sequence[int], optional): Shape of the zero input that traces the
            data flow for folding BN/ReLU into the epilogues; None: no folding.
            Default: (1, 3, 64, 64).
        data_preprocessor (dict, optional): The config's top-level ``data_preprocessor``, which
            mmengine's Runner passes to the model it builds: it goes to the original model
            (unless its config has its own), as the Runner would give it. Default: None.
        init_cfg: Unused.
    """

    def __init__(self, model: Union[dict, nn.Module], scope: str = 'mmbnn',
                 checkpoint: Optional[str] = None,
                 fuse_input_shape: Optional[Sequence[int]] = (1, 3, 64, 64),
                 data_preprocessor=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self._modules.pop('data_preprocessor', None)  # the converted model's own one runs
        if isinstance(model, nn.Module):
            inner = model
        elif isinstance(model, dict) and 'type' in model:
            if data_preprocessor is not None and model.get('data_preprocessor') is None:
                model = dict(model, data_preprocessor=data_preprocessor)
            with DefaultScope.overwrite_default_scope(scope):
                inner = ROOT_MODELS.build(model)
        else:
            raise TypeError(f'BitPackedModel: model must be a model config dict or a model, '
                            f'got {type(model).__name__}')
        if checkpoint is not None:
            ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
            if is_packed(ckpt):
                load_packed(inner, ckpt)
            else:
                inner.load_state_dict(strip_module_prefix(ckpt), strict=True)
        example = None if fuse_input_shape is None else torch.zeros(*fuse_input_shape)
        self.model = convert(inner, inplace=True, fuse=example is not None,
                             example_inputs=example, warn=True)
        self.fuse_input_shape = None if example is None else tuple(fuse_input_shape)

    @property
    def data_preprocessor(self):
        return getattr(self.model, 'data_preprocessor', None)

    def test_step(self, data):
        return self.model.test_step(data)

    def val_step(self, data):
        return self.model.val_step(data)

    def train_step(self, data, optim_wrapper):
        raise RuntimeError('a bit-packed model is for inference only; train the original model')

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def train(self, mode: bool = True):
        if mode:
            raise RuntimeError('a bit-packed model is for inference only')
        return super().train(False)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # mmengine loads checkpoints with strict=False; a converted model must match exactly
        expected = set(self.state_dict(prefix=prefix))
        given = {k for k in state_dict if k.startswith(prefix)}
        if given != expected:
            missing, unexpected = sorted(expected - given), sorted(given - expected)
            raise RuntimeError(
                'this checkpoint is not a bit-packed checkpoint of this config (write one with '
                'tools/deploy/convert.py): '
                f'missing {missing[:5]}{"..." if len(missing) > 5 else ""}, '
                f'unexpected {unexpected[:5]}{"..." if len(unexpected) > 5 else ""}')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
