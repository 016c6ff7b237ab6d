#!/usr/bin/env bash
# Prints the directory of a libtorch 2.13.0 (the version tch 0.26 is built against),
# installing it on first use. Everything else goes to stderr, so callers can write
# `LIBTORCH=$(scripts/libtorch.sh)`.
#
# The chosen directory is also linked as .libtorch in the checkout, which .cargo/config.toml
# points LIBTORCH at, so plain cargo commands work after the first `make`.
#
# Order of preference:
#   1. $LIBTORCH, when the user already has a libtorch (checked to exist);
#   2. a previous install in the cache ($AVC_CACHE_DIR, default ~/.cache/avc), shared by
#      every clone on this machine;
#   3. a fresh install: a Python venv in the cache with torch==2.13.0 from PyPI. The wheel
#      carries libtorch (CPU and CUDA 13 libraries) and runs on machines without a GPU.
# The venv also gets the `tensorboard` package (cases 2 and 3), which reads the run
# directories' event files: `<venv>/bin/tensorboard --logdir runs`, and `onnx` and
# `onnxruntime`, which the tests use to check exported ONNX graphs.
set -euo pipefail

version=2.13.0
root="$(cd "$(dirname "$0")/.." && pwd)"

link() {
  ln -sfn "$1" "$root/.libtorch"
  echo "$1"
}

if [ -n "${LIBTORCH:-}" ] && [ "$LIBTORCH" != "$root/.libtorch" ]; then
  if [ ! -d "$LIBTORCH/lib" ] || [ ! -d "$LIBTORCH/include" ]; then
    echo "avc: LIBTORCH=$LIBTORCH has no lib/ and include/ directories" >&2
    exit 1
  fi
  link "$LIBTORCH"
  exit 0
fi

cache="${AVC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/avc}"
venv="$cache/torch-$version"
marker="$venv/avc-libtorch-path"

if [ ! -f "$marker" ]; then
  echo "avc: installing torch==$version into $venv (first run only, about 4 GB with its CUDA libraries)" >&2
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off \
    "torch==$version" numpy==2.4.6 >&2
  "$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' > "$marker.tmp"
  mv "$marker.tmp" "$marker"
fi
# TensorBoard reads the run directories' event files, safetensors loads `avc export`'s
# weights into torch.nn, FAISS indexes `avc retrieve --embeddings-out`'s vectors, and onnx
# and ONNX Runtime check and run `avc::export::onnx`'s graphs; the tests use all five.
# Checked on every run, so a cache made before this step gets them once. Pinned to the
# versions the suite last passed with, so CI and the next machine test against the same.
for spec in tensorboard:tensorboard==2.21.0 safetensors:safetensors==0.8.0 faiss:faiss-cpu==1.15.1 \
  onnx:onnx==1.23.2 onnxruntime:onnxruntime==1.32.0; do
  module=${spec%%:*} package=${spec#*:}
  if ! "$venv/bin/python" -c "import $module" >/dev/null 2>&1; then
    echo "avc: installing $package into $venv" >&2
    "$venv/bin/pip" install --disable-pip-version-check --progress-bar off "$package" >&2
  fi
done
# CUDA's headers for the NCCL process group (build.rs compiles it against the wheel's
# nvidia/cu13/include, GPU or not): the wheel brings the runtime's headers but not crt/ nor
# CCCL's nv/target, which c10d's CUDA headers include. Headers only, pinned to the wheel's
# CUDA 13.0.
site=$(dirname "$(cat "$marker")")
if [ ! -f "$site/nvidia/cu13/include/crt/host_config.h" ] || [ ! -f "$site/nvidia/cu13/include/nv/target" ]; then
  echo "avc: installing CUDA 13.0's crt and CCCL headers into $venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off --no-deps \
    "nvidia-cuda-crt==13.0.*" "nvidia-cuda-cccl==13.0.*" >&2
fi
link "$(cat "$marker")"
