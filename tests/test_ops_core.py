"""The C++ core's own tests (tests/csrc/test_core.cpp, no torch) in the builds that matter: the
native one, the x86 code compiled out (-DMMBNN_PORTABLE: what aarch64 builds), the AVX-512 kernels
through SIMDe's portable intrinsics (checked on CPUs without AVX-512), and an aarch64 cross build
run under qemu. A build whose tools this machine lacks is skipped, naming them (.ci/run installs
them)."""
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', 'dev'))
import core_tests  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize('variant', ['native', 'portable', 'emulated', 'aarch64'])
def test_core_builds_and_passes(variant):
    lack = core_tests.missing(variant)
    if lack:
        pytest.skip(f'the {variant} build needs {lack}')
    proc = core_tests.run(variant, quick=variant in ('emulated', 'aarch64'))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert ' 0 failures' in out and 'checks' in out
    isas = out.splitlines()[0]
    if variant in ('portable', 'aarch64'):
        assert isas == 'isas: generic', isas  # the x86 kernels are not in these builds
    if variant == 'emulated':
        assert 'avx512bw' in isas and 'avx512vpopcnt' in isas, isas
