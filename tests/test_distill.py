"""mmbnn.SingleTeacherDistiller on the digits configs of configs/distill: the checkpoint is the
student's, the teacher is frozen and outside the model, the losses are what an independent
computation gives, testing needs no teacher, every bad config is refused by name; and the chain
teacher -> distilled student -> test through tools/train.py and tools/test.py."""
import copy
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import CheckpointLoader

from conftest import ROOT, python_tool, run
from mmbnn.models.distillers import OutputRecorder, SingleTeacherDistiller
from mmbnn.registry import ROOT_MODELS
from mmbnn.utils import UnsafeCheckpointError

KD = osp.join(ROOT, 'configs', 'distill', 'kd_resnet18-w16_birealnet-r18-w16_1xb64_digits.py')
KD_AT = osp.join(ROOT, 'configs', 'distill',
                 'kd-at_resnet18-w16_birealnet-r18-w16_1xb64_digits.py')
STUDENT = osp.join(ROOT, 'configs', 'digits', 'birealnet-r18-w16_1xb64_digits.py')
TEACHER = osp.join(ROOT, 'configs', 'digits', 'resnet18-w16_1xb64_digits.py')


def build_model(path, **options):
    """The config's model as the Runner builds it (default scope, top-level preprocessor)."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    init_default_scope(cfg.default_scope)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return ROOT_MODELS.build(model_cfg)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    """A full-precision digits ResNet (random weights, fixed) saved as a checkpoint."""
    torch.manual_seed(123)
    teacher = build_model(TEACHER)
    path = str(tmp_path_factory.mktemp('teacher') / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict(), meta=dict()), path)
    return path


def distiller(path=KD, teacher=None, **options):
    if teacher is not None:
        options['model.teacher.checkpoint'] = teacher
    return build_model(path, **options)


def batch(n=6, seed=0):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 3, 8, 8, generator=g)
    samples = [DataSample().set_gt_label(int(i)) for i in torch.randint(0, 10, (n, ), generator=g)]
    return inputs, samples


def np_kd(zs, zt):
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    ls, lt = log_softmax(zs), log_softmax(zt)
    return np.mean(np.sum(np.exp(lt) * (lt - ls), axis=1))


# ---------------------------------------------------------------------------- checkpoints
def test_state_dict_has_exactly_the_students_keys(teacher_ckpt):
    model = distiller(teacher=teacher_ckpt)
    model.build_teacher()
    plain = build_model(STUDENT)
    keys = list(model.state_dict())
    assert keys == list(plain.state_dict())
    assert not any(k.startswith(('student.', 'teacher', 'data_preprocessor.')) for k in keys)
    # the plain student loads it strictly, and computes what the wrapper's student computes
    plain.load_state_dict(model.state_dict(), strict=True)
    x, _ = batch()
    model.eval()
    plain.eval()
    torch.testing.assert_close(plain(x, mode='tensor'), model(x, mode='tensor'))
    # a student checkpoint (e.g. stage 1) loads into a fresh wrapper strictly, BN versions kept
    fresh = distiller(teacher=teacher_ckpt)
    result = fresh.load_state_dict(plain.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for (k, a), b in zip(fresh.state_dict().items(), plain.state_dict().values()):
        assert torch.equal(a, b), k
    assert fresh.state_dict()._metadata['backbone.bn1']['version'] == \
        plain.state_dict()._metadata['backbone.bn1']['version']


def test_student_keys_also_inside_a_bigger_module(teacher_ckpt):
    outer = torch.nn.ModuleDict(dict(m=distiller(teacher=teacher_ckpt)))
    plain = build_model(STUDENT)
    state = outer.state_dict()
    assert list(state) == ['m.' + k for k in plain.state_dict()]
    assert 'm.backbone.bn1' in state._metadata and 'm.student.backbone.bn1' not in state._metadata
    fresh = torch.nn.ModuleDict(dict(m=distiller(teacher=teacher_ckpt)))
    result = fresh.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(fresh['m'].student.head.fc.weight, outer['m'].student.head.fc.weight)


def test_mmengine_checkpoint_functions_agree(teacher_ckpt, tmp_path):
    """mmengine's own state-dict walkers (used by save_checkpoint / load_checkpoint) see the
    same student keys."""
    from mmengine.runner import load_checkpoint, save_checkpoint
    from mmengine.runner.checkpoint import get_state_dict
    model = distiller(teacher=teacher_ckpt)
    assert list(get_state_dict(model)) == list(build_model(STUDENT).state_dict())
    path = str(tmp_path / 'w.pth')
    save_checkpoint(model.state_dict(), path)
    plain = build_model(STUDENT)
    load_checkpoint(plain, path, strict=True, logger='silent')
    back = distiller(teacher=teacher_ckpt)
    load_checkpoint(back, path, strict=True, logger='silent')
    for a, b in zip(back.student.parameters(), model.student.parameters()):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------- the teacher
def test_teacher_is_frozen_outside_the_model_and_loaded(teacher_ckpt):
    model = distiller(teacher=teacher_ckpt)
    assert model._teacher is None  # nothing is built before training needs it
    teacher = model.teacher
    assert model.teacher is teacher
    saved = CheckpointLoader.load_checkpoint(teacher_ckpt)['state_dict']
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, saved[k]), k
    ids = {id(p) for p in model.parameters()}
    assert ids == {id(p) for p in model.student.parameters()}
    assert not any(id(p) in ids for p in teacher.parameters())
    assert all(not p.requires_grad for p in teacher.parameters())
    assert all(teacher is not m for m in model.modules())
    model.train()
    assert model.student.training and not teacher.training
    before = copy.deepcopy(teacher.state_dict())
    model.init_weights()
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    model.double()  # .to() / .double() / .cuda() move the teacher along
    assert all(p.dtype == torch.float64 for p in teacher.parameters())


def test_building_the_teacher_leaves_the_random_stream_alone(teacher_ckpt):
    model = distiller(teacher=teacher_ckpt)
    torch.manual_seed(5)
    model.build_teacher()
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(3), after)


def test_teacher_goes_through_mmengines_checkpoint_loader(teacher_ckpt, tmp_path):
    """Any scheme registered with CheckpointLoader works (mmbnn:// is one); local files go
    through mmbnn's safe loader, which refuses foreign pickled objects."""
    seen = []

    @CheckpointLoader.register_scheme(prefixes='kdtest://', force=True)
    def _load(filename, map_location=None):
        seen.append(filename)
        return torch.load(teacher_ckpt, map_location=map_location, weights_only=True)

    model = distiller(teacher='kdtest://digits-teacher')
    model.build_teacher()
    assert seen == ['kdtest://digits-teacher']
    import argparse
    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save(dict(state_dict=torch.load(teacher_ckpt)['state_dict'],
                    meta=dict(args=argparse.Namespace(lr=1))), unsafe)
    with pytest.raises(UnsafeCheckpointError):
        distiller(teacher=unsafe).build_teacher()


def test_missing_teacher_checkpoint_says_how_to_make_it():
    model = distiller(teacher='/nonexistent/epoch_30.pth')
    with pytest.raises(FileNotFoundError, match=r'train the teacher first \(python '
                       r'tools/train.py digits/resnet18-w16_1xb64_digits.py\)'):
        model.loss(*batch())


def test_teacher_that_does_not_fit_its_config_is_refused(teacher_ckpt, tmp_path):
    bad = str(tmp_path / 'bad.pth')
    state = torch.load(teacher_ckpt)['state_dict']
    state.pop('head.fc.bias')
    torch.save(dict(state_dict=state), bad)
    with pytest.raises(RuntimeError, match=r'(?s)does not fit.*head\.fc\.bias'):
        distiller(teacher=bad).build_teacher()


def test_teacher_must_normalise_like_the_student(teacher_ckpt):
    model = distiller(teacher=teacher_ckpt, **{
        'model.teacher.cfg_options': {'data_preprocessor.mean': [0.0] * 3}})
    with pytest.raises(ValueError, match="mean .* differs from the student's"):
        model.build_teacher()


# ---------------------------------------------------------------------------- the steps
@pytest.mark.parametrize('with_student_loss', [True, False])
def test_loss_is_the_students_plus_an_independent_kd(teacher_ckpt, with_student_loss):
    model = distiller(teacher=teacher_ckpt, **{'model.with_student_loss': with_student_loss})
    model.eval()  # BN in eval mode: the reference passes below see the same network
    x, samples = batch()
    losses = model.loss(x, samples)
    zs = model.student(x, mode='tensor').detach().numpy().astype(np.float64)
    zt = model.teacher(x, mode='tensor').numpy().astype(np.float64)
    assert not np.allclose(zs, zt)
    assert losses['loss_kd'].item() == pytest.approx(np_kd(zs, zt), rel=1e-4)
    if with_student_loss:
        assert set(losses) == {'loss', 'loss_kd'}
        own = model.student.loss(x, samples)['loss']
        assert losses['loss'].item() == pytest.approx(own.item(), rel=1e-6)
    else:
        assert set(losses) == {'loss_kd'}
    # gradients reach the student only
    sum(losses.values()).backward()
    assert model.student.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())
    assert not model._student_recorder._records and not model._teacher_recorder._records


def test_attention_transfer_config_reads_the_stage_outputs(teacher_ckpt):
    model = distiller(KD_AT, teacher=teacher_ckpt)
    x, samples = batch()
    losses = model.loss(x, samples)
    assert set(losses) == {'loss', 'loss_kd', 'loss_at'}
    assert torch.isfinite(losses['loss_at']) and losses['loss_at'].item() > 0
    model.zero_grad()
    losses['loss_at'].backward()
    assert model.student.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0


def test_val_and_test_steps_are_the_students_and_need_no_teacher(teacher_ckpt):
    model = distiller(teacher='/nowhere/teacher.pth')  # testing must not touch the teacher
    plain = build_model(STUDENT)
    plain.load_state_dict(model.state_dict())
    model.eval()
    plain.eval()
    x, samples = batch()
    data = dict(inputs=list((x * 95.89 + 77.84)), data_samples=samples)  # raw pixel range
    for step in ('val_step', 'test_step'):
        got = getattr(model, step)(copy.deepcopy(data))
        want = getattr(plain, step)(copy.deepcopy(data))
        for a, b in zip(got, want):
            torch.testing.assert_close(a.pred_score, b.pred_score)
    assert torch.equal(model(x, samples, mode='predict')[0].pred_score,
                       plain(x, samples, mode='predict')[0].pred_score)
    assert model._teacher is None


# ---------------------------------------------------------------------------- bad configs
@pytest.mark.parametrize('options,error,match', [
    ({'model.teacher.chekpoint': 'x.pth'}, KeyError, r"unknown keys \['chekpoint'\].*did you "
     r'mean checkpoint'),
    ({'model.teacher.config': None}, KeyError, 'teacher.config must be a non-empty string'),
    ({'model.distill_losses.kd': dict(type='mmbnn.DistributionLoss', student='head.fc',
                                      teacher='head.fc')}, ValueError, "'kd' must contain"),
    ({'model.distill_losses.loss_kd.teacher': None}, KeyError, None),
    ({'model.distill_losses.loss_kd.student': 'head.fcc'}, KeyError,
     "the student has no module 'head.fcc'; did you mean head.fc"),
    ({'model.distill_losses.loss_kd.student': 'head.fc(0)'}, ValueError, 'a source is'),
    ({'model.distill_losses.loss_kd.mask': 'boxes'}, ValueError, 'mask must be one of'),
    ({'model.test_cfg': dict()}, TypeError, r'model\.student\.test_cfg'),
    ({'model.with_student_loss': 'yes'}, TypeError, 'with_student_loss'),
    ({'model.distill_losses.loss_kd.type': 'mmbnn.DistributionLos'}, KeyError,
     'did you mean DistributionLoss'),
])
def test_bad_configs_are_refused_by_name(teacher_ckpt, options, error, match):
    if options.get('model.distill_losses.loss_kd.teacher', 0) is None:
        cfg = Config.fromfile(KD)
        del cfg.model.distill_losses.loss_kd['teacher']
        init_default_scope('mmpretrain')
        with pytest.raises(KeyError, match='loss_kd needs teacher'):
            ROOT_MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
        return
    with pytest.raises(error, match=match):
        distiller(teacher=teacher_ckpt, **options)


def test_a_teacher_module_name_is_checked_when_the_teacher_is_built(teacher_ckpt):
    model = distiller(teacher=teacher_ckpt,
                      **{'model.distill_losses.loss_kd.teacher': 'head.linear'})
    with pytest.raises(KeyError, match="the teacher has no module 'head.linear'"):
        model.build_teacher()


def test_student_must_be_an_mmengine_model():
    init_default_scope('mmpretrain')
    with pytest.raises(TypeError, match='BaseModel'):
        SingleTeacherDistiller(student=dict(type='mmbnn.RSign', channels=3),
                               teacher=dict(config=TEACHER, checkpoint='x.pth'),
                               distill_losses=dict(loss_x=dict(type='mmbnn.DistributionLoss',
                                                               student='', teacher='')))


def test_positives_need_a_detector(teacher_ckpt):
    model = distiller(teacher=teacher_ckpt, **{'model.distill_losses.loss_kd.mask': 'positives'})
    with pytest.raises(TypeError, match='FCOS-style bbox_head'):
        model.loss(*batch())


# ---------------------------------------------------------------------------- the recorder
class _Shared(torch.nn.Module):
    """One conv run on two inputs (as a detection head's conv runs on every level) and a module
    returning a tuple."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 1)
        self.pair = torch.nn.Identity()

    def forward(self, a, b):
        return self.conv(a), self.conv(b), self.pair((a, b))


def test_recorder_lists_repeated_calls_and_indexes_tuples():
    net = _Shared()
    rec = OutputRecorder(net, ['conv', 'pair[1]'], owner='net')
    a, b = torch.randn(1, 1, 2, 2), torch.randn(1, 1, 3, 3)
    net(a, b)  # not recording: nothing kept
    with pytest.raises(RuntimeError, match="net module 'conv' did not run"):
        rec.get('conv')
    with rec.recording():
        out_a, out_b, _ = net(a, b)
    got = rec.get(['conv', 'pair[1]'])
    assert [torch.equal(x, y) for x, y in zip(got[0], (out_a, out_b))] == [True, True]
    assert got[1] is b
    with pytest.raises(IndexError, match="'pair\\[2\\]'.*no element 2"):
        rec.get('pair[2]')
    rec.remove()
    with rec.recording():
        net(a, b)
    with pytest.raises(RuntimeError):
        rec.get('conv')


# ---------------------------------------------------------------------------- the tools
@pytest.mark.slow
def test_teacher_then_distilled_student_then_test_with_either_config(tmp_path):
    """The README's chain with the real tools: train the teacher, train the distilled student
    from it (config change only), test the result with the distillation config (no teacher
    needed) and with the plain student config: the same accuracy as the training's own
    validation."""
    short = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=128',
             'default_hooks.checkpoint.interval=1', 'train_cfg.val_interval=1']
    run(python_tool('train.py', TEACHER, '--work-dir', tmp_path / 'fp', '--cfg-options', *short))
    teacher = tmp_path / 'fp' / 'epoch_1.pth'
    proc = run(python_tool('train.py', KD, '--work-dir', tmp_path / 'kd', '--cfg-options', *short,
                           f'model.teacher.checkpoint={teacher}'))
    log = proc.stdout + proc.stderr
    assert re.search(r'loss_kd: \d', log), log[-2000:]
    trained = re.findall(r'accuracy/top1: ([\d.]+)', log)[-1]
    ckpt = tmp_path / 'kd' / 'epoch_1.pth'
    state = CheckpointLoader.load_checkpoint(str(ckpt))['state_dict']
    assert not any(k.startswith(('student.', 'teacher')) for k in state)
    for config, extra in ((KD, ['--cfg-options', 'model.teacher.checkpoint=/nowhere.pth']),
                          (STUDENT, [])):
        out = run(python_tool('test.py', config, ckpt, '--work-dir', tmp_path / 'test', *extra))
        tested = re.findall(r'accuracy/top1: ([\d.]+)', out.stdout + out.stderr)[-1]
        assert tested == trained, (config, tested, trained)
