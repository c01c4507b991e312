#!/usr/bin/env bash
# Create .venv and install mmbnn's pinned OpenMMLab stack. Safe to run again: it only installs
# what is missing, and it always ends by checking that mmcv's compiled ops run.
#
#   bash tools/setup_env.sh [--wheelhouse DIR] [--venv DIR]
#
# A wheelhouse (option, or MMBNN_WHEELHOUSE) with a prebuilt mmcv-2.1.0 wheel saves the 22-26 minute
# source build of mmcv's ops on 2 cores. Without one, mmcv is built from its PyPI sdist with C++20
# (torch 2.14's headers need it; mmcv 2.1.0 asks for C++17), no build isolation and ops on.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMBNN_VENV:-$ROOT/.venv}
WHEELHOUSE=${MMBNN_WHEELHOUSE:-}
PYTHON=${PYTHON:-python3.11}
while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse) WHEELHOUSE=$2; shift 2 ;;
    --venv) VENV=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup_env.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

TORCH=torch==2.14.1
TORCHVISION=torchvision==0.29.1
SETUPTOOLS='setuptools>=77,<82'
MMCV=mmcv==2.1.0
STACK=(mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 mmpretrain==1.2.0)

log() { echo "[setup_env] $*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

have() {  # have DIST VERSION: is exactly this version of a distribution installed?
  "$PY" - "$1" "$2" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
PYEOF
}

"${PIP[@]}" "$SETUPTOOLS" wheel
have torch 2.14.1 && have torchvision 0.29.1 || { log "installing $TORCH $TORCHVISION"; "${PIP[@]}" "$TORCH" "$TORCHVISION"; }

if ! have mmcv 2.1.0 || ! "$PY" -c "import mmcv.ops" 2>/dev/null; then
  "${PIP[@]}" mmengine==0.10.7
  if [ -n "$WHEELHOUSE" ] && ls "$WHEELHOUSE"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "installing mmcv from wheelhouse $WHEELHOUSE"
    "${PIP[@]}" --find-links "$WHEELHOUSE" --only-binary mmcv "$MMCV"
  else
    [ -n "$WHEELHOUSE" ] && log "no mmcv-2.1.0 wheel in $WHEELHOUSE"
    log "building mmcv 2.1.0 with ops from source (C++20); this takes 20-30 minutes on 2 cores"
    SRC=$(mktemp -d)
    trap 'rm -rf "$SRC"' EXIT
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: -d "$SRC" "$MMCV"
    tar -xzf "$SRC"/mmcv-2.1.0.tar.gz -C "$SRC"
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC"/mmcv-2.1.0/setup.py
    grep -q -- '-std=c++20' "$SRC"/mmcv-2.1.0/setup.py || { log "could not raise mmcv's C++ standard"; exit 1; }
    "${PIP[@]}" addict numpy packaging Pillow pyyaml yapf opencv-python ninja
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
      "${PIP[@]}" --no-build-isolation "$SRC"/mmcv-2.1.0
  fi
fi

"${PIP[@]}" "${STACK[@]}" "$TORCH" "$TORCHVISION" "$SETUPTOOLS"
# mmbnn's setup.py imports torch to build its C++ kernels (mmbnn.ops._C): no build isolation,
# and PEP 660 (--use-pep517) so that pip builds the extension in place; the docs extra builds docs/en
"${PIP[@]}" --no-build-isolation --use-pep517 -e "$ROOT[tests,docs]" "$TORCH" "$TORCHVISION" "$SETUPTOOLS"

"$PY" - <<'PYEOF'
import torch, mmcv, mmdet, mmseg, mmpretrain, mmengine, setuptools
from mmcv.ops import nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
dets, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
print(f'[setup_env] ok: torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__} '
      f'(ops: nms runs), mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, setuptools {setuptools.__version__}')
PYEOF
