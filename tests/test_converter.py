"""tools/model_converters/resnet_to_groupnet.py gives what init_cfg=Pretrained gives."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from conftest import CONFIGS, python_tool, run

CFG = osp.join(CONFIGS, 'tiny_groupnet_cls.py')


def test_converter_matches_pretrained_init(tmp_path):
    import torchvision
    torch.manual_seed(0)
    fp = torchvision.models.resnet18()
    src, dst = tmp_path / 'r18.pth', tmp_path / 'groupnet.pth'
    torch.save(fp.state_dict(), src)
    run(python_tool('model_converters/resnet_to_groupnet.py', src, dst, '--config', CFG))
    converted = torch.load(dst, weights_only=True)['state_dict']

    cfg = Config.fromfile(CFG)
    init_default_scope('mmpretrain')
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(src))
    model = MODELS.build(cfg.model)
    model.backbone.init_weights()
    expected = model.state_dict()
    for key, value in converted.items():
        if key.startswith('backbone.'):
            torch.testing.assert_close(value, expected[key])
    assert converted['backbone.layer1.0.conv1.weight'].shape == (3 * 64, 64, 3, 3)
    torch.testing.assert_close(converted['head.fc.weight'], fp.fc.weight.detach())
    # every backbone tensor that has a full-precision namesake was converted
    assert sum(k.startswith('backbone.') for k in converted) == len(fp.state_dict()) - 2
    # and the file loads into the model as load_from would
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert not unexpected and all('aggregate' in k for k in missing)
