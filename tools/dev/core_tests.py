"""Build and run the C++ core's own tests (tests/csrc/test_core.cpp) in several builds.

    python tools/dev/core_tests.py [--variants native portable emulated aarch64 asan] [--quick]

- ``native``: the core as the extension builds it (x86 kernels chosen at run time);
- ``portable``: ``-DMMBNN_PORTABLE``, the x86 code compiled out (what aarch64 and other
  architectures build);
- ``emulated``: ``-DMMBNN_EMULATE_X86``: the x86 kernels, AVX-512 included, compiled with SIMDe's
  portable intrinsics (Debian's ``libsimde-dev``), so a CPU without AVX-512 checks the AVX-512
  code's results (not its speed);
- ``aarch64``: a cross build (Debian's ``g++-aarch64-linux-gnu``) run under ``qemu-aarch64-static``
  (``qemu-user-static``);
- ``asan``: the native build with ``-fsanitize=address,undefined`` (slow to build; not in the test
  suite: run it when the kernels change).

Each variant compiles the core's sources in parallel into a temporary folder and runs the test
binary; the exit status is 0 when every built variant passes. A variant whose compiler, headers or
emulator are missing is skipped with the name of what is missing (``--require`` makes that an
error).
"""
import argparse
import concurrent.futures
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CORE = osp.join(ROOT, 'mmbnn', 'ops', 'csrc', 'core')
TEST = osp.join(ROOT, 'tests', 'csrc', 'test_core.cpp')
FLAGS = ['-std=c++20', '-ffp-contract=off', '-Wall', '-Wextra', '-Werror', '-I' + CORE]

#: variant -> (compiler, extra flags, runner prefix, optimisation)
VARIANTS = {
    'native': ('g++', [], [], '-O2'),
    'portable': ('g++', ['-DMMBNN_PORTABLE'], [], '-O2'),
    'emulated': ('g++', ['-DMMBNN_EMULATE_X86'], [], '-O1'),
    'aarch64': ('aarch64-linux-gnu-g++', ['-static'], ['qemu-aarch64-static'], '-O2'),
    'asan': ('g++', ['-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'], [],
             '-O1'),
}


def missing(variant: str):
    """What this machine lacks to build and run ``variant`` (None: nothing)."""
    cxx, extra, runner, _ = VARIANTS[variant]
    if shutil.which(cxx) is None:
        return f'the compiler {cxx}' + (' (Debian: g++-aarch64-linux-gnu)'
                                        if 'aarch64' in cxx else '')
    if runner and shutil.which(runner[0]) is None:
        return f'{runner[0]} (Debian: qemu-user-static)'
    if variant == 'emulated' and not osp.isfile('/usr/include/simde/x86/avx512.h'):
        return 'the SIMDe headers (Debian: libsimde-dev)'
    return None


def build(variant: str, out_dir: str, jobs: int = 2) -> str:
    """Compile ``variant``'s test binary; returns its path."""
    cxx, extra, _, opt = VARIANTS[variant]
    sources = sorted(osp.join(CORE, f) for f in os.listdir(CORE) if f.endswith('.cpp'))
    sources.append(TEST)
    link_only = [f for f in extra if f == '-static']
    compile_flags = FLAGS + [opt] + [f for f in extra if f != '-static']

    def compile_one(src):
        obj = osp.join(out_dir, osp.basename(src) + '.o')
        subprocess.run([cxx] + compile_flags + ['-c', src, '-o', obj], check=True,
                       capture_output=True, text=True)
        return obj

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        try:
            objs = list(pool.map(compile_one, sources))
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f'{variant}: {" ".join(e.cmd)}\n{e.stderr}') from None
    exe = osp.join(out_dir, f'test_core_{variant}')
    subprocess.run([cxx] + compile_flags + link_only + objs + ['-o', exe], check=True,
                   capture_output=True, text=True)
    return exe


def run(variant: str, quick: bool = False, jobs: int = 2) -> subprocess.CompletedProcess:
    """Build and run ``variant``; returns the test binary's completed process."""
    with tempfile.TemporaryDirectory(prefix=f'mmbnn_core_{variant}_') as tmp:
        exe = build(variant, tmp, jobs)
        runner = VARIANTS[variant][2]
        return subprocess.run(runner + [exe] + (['--quick'] if quick else []),
                              capture_output=True, text=True, timeout=1800)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument('--quick', action='store_true', help='fewer random cases')
    parser.add_argument('--require', action='store_true',
                        help='fail (instead of skipping) when a variant cannot be built here')
    parser.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    status = 0
    for v in args.variants:
        lack = missing(v)
        if lack:
            print(f'[{v}] skipped: needs {lack}')
            status |= 1 if args.require else 0
            continue
        proc = run(v, args.quick, args.jobs)
        tail = (proc.stdout + proc.stderr).strip().splitlines()
        print(f'[{v}] ' + ('passed' if proc.returncode == 0 else 'FAILED') + ': ' +
              ' | '.join(tail[-2:]))
        if proc.returncode:
            print(proc.stdout + proc.stderr)
            status = 1
    return status


if __name__ == '__main__':
    sys.exit(main())
