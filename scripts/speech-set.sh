#!/usr/bin/env bash
# Build the speech set (docs/speech-set.md): installs espeak-ng when it is missing, then runs
# scripts/speech-set/build.py with the project's torch venv (numpy is all it needs).
#
#   scripts/speech-set.sh [--out DIR] [--train N] [--test M] [--seed S] [--workers W]
#
# Default output: ~/.cache/avc/speech-set (outside the repository; data/ is not ignored by
# .gitignore, so nothing is written inside the work tree). Python: $AVC_PYTHON, else the
# torch venv ~/.cache/avc/torch-2.13.0/bin/python, else python3 (with numpy).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v espeak-ng >/dev/null 2>&1; then
    echo "speech-set: installing espeak-ng" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq espeak-ng >/dev/null
fi
py="${AVC_PYTHON:-$HOME/.cache/avc/torch-2.13.0/bin/python}"
[ -x "$py" ] || py=python3
"$py" -c 'import numpy' 2>/dev/null || { echo "speech-set: $py has no numpy (set AVC_PYTHON)" >&2; exit 1; }
out="$HOME/.cache/avc/speech-set"
for arg in "$@"; do case "$arg" in --out | --out=*) out="" ;; esac; done
# One BLAS thread per worker: the workers are the parallelism.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ -n "$out" ]; then
    exec "$py" "$here/speech-set/build.py" --out "$out" "$@"
else
    exec "$py" "$here/speech-set/build.py" "$@"
fi
