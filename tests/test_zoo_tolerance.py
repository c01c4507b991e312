"""The zoo's reproduction tolerance and the cross-CPU measurement helpers (mmbnn.zoo.spread):
|measured - recorded| within the metric's tolerance passes, beyond it fails, naming both."""
import pytest

from mmbnn.zoo import spread
from mmbnn.zoo.evaluate import METRICS, reproduces
from mmbnn.zoo.spread import (check_settings, effective_setting, largest_differences,
                              spread_rows)


@pytest.mark.parametrize('key', list(METRICS))
def test_within_the_tolerance_reproduces(key):
    spec = METRICS[key]
    unit = 10**-spec.decimals
    assert spec.tolerance > 0
    recorded = 50.0
    for measured in (recorded, recorded + spec.tolerance, recorded - spec.tolerance):
        assert reproduces({key: recorded}, {key: measured / spec.scale}) == []
    for measured in (recorded + spec.tolerance + unit, recorded - spec.tolerance - unit):
        problems = reproduces({key: recorded}, {key: measured / spec.scale})
        assert len(problems) == 1, problems
        assert f'recorded {recorded}' in problems[0] and f'tolerance {spec.tolerance:g}' in \
            problems[0]
        assert f'measured {spec.record(measured / spec.scale)}' in problems[0]


def test_missing_metric_never_reproduces():
    assert reproduces({'coco/bbox_mAP': 57.9}, {}) == [
        'coco/bbox_mAP: recorded 57.9, not measured']


def test_tolerance_is_on_the_recorded_precision():
    """mmdet's AP comes as a fraction rounded to 3 decimals, recorded in percent with 1:
    the AVX-512 figure of issue 23 (57.8 for a recorded 57.9) is one recorded unit off."""
    spec = METRICS['coco/bbox_mAP']
    assert spec.record(0.578) == 57.8
    assert (reproduces({'coco/bbox_mAP': 57.9}, {'coco/bbox_mAP': 0.578}) == []) == \
        (spec.tolerance >= 0.1)


def test_spread_rows_and_largest_differences():
    rows = [dict(name='a', setting='AVX2', threads=1, images=360,
                 metrics={'accuracy/top1': 86.66666}, recorded={'accuracy/top1': 86.39}),
            dict(name='a', setting='SSE41', threads=2, images=360,
                 metrics={'accuracy/top1': 85.83333}, recorded={'accuracy/top1': 86.39}),
            dict(name='b', setting='AVX2', threads=1, images=5,
                 metrics={'coco/bbox_mAP': 0.578}, recorded={'coco/bbox_mAP': 57.9,
                                                              'mIoU': 80.0})]
    table = spread_rows(rows)
    assert [(r['name'], r['metric'], r['measured'], r['difference']) for r in table] == [
        ('a', 'accuracy/top1', 86.67, 0.28), ('a', 'accuracy/top1', 85.83, -0.56),
        ('b', 'coco/bbox_mAP', 57.8, -0.1), ('b', 'mIoU', None, None)]
    worst = largest_differences(table)
    assert sorted(worst) == ['accuracy/top1', 'coco/bbox_mAP']
    assert (worst['accuracy/top1']['setting'], worst['accuracy/top1']['threads']) == ('SSE41', 2)


@pytest.mark.parametrize('x86,avx512,avx2,expected,default_is', [
    (True, True, True, ['default', 'AVX2'], 'default'),
    (True, False, True, ['AVX2', 'SSE41'], 'AVX2'),
    (False, False, False, ['default'], 'default')])
def test_settings_follow_the_cpu(monkeypatch, x86, avx512, avx2, expected, default_is):
    import torch
    monkeypatch.setattr(spread, 'is_x86', lambda: x86)
    monkeypatch.setattr(torch.cpu, '_is_avx512_supported', lambda: avx512)
    monkeypatch.setattr(torch.cpu, '_is_avx2_supported', lambda: avx2)
    assert check_settings() == expected
    assert effective_setting('default') == effective_setting('ALL') == default_is
    assert effective_setting('sse41') == 'SSE41'


def test_current_setting(monkeypatch):
    monkeypatch.delenv(spread.ISA_ENV, raising=False)
    assert spread.current_setting() == 'default'
    monkeypatch.setenv(spread.ISA_ENV, 'avx2')
    assert spread.current_setting() == 'AVX2'
