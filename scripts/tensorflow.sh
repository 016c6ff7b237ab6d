#!/usr/bin/env bash
# Prints the path of a Python that has TensorFlow (tensorflow-cpu from PyPI) and numpy,
# installing them on first use into a venv of their own in the cache ($AVC_CACHE_DIR,
# default ~/.cache/avc/tf-<version>). Everything else goes to stderr, so callers can write
# `PY=$(scripts/tensorflow.sh)`.
#
# Only tests/fixtures/yt8m/make_yt8m_fixtures.py (`make yt8m-fixtures`) needs it: it writes
# the reference YouTube-8M shards with TensorFlow's own TFRecordWriter. The tests read the
# committed shards and never need TensorFlow. The venv is kept apart from the torch venv
# (scripts/libtorch.sh) so that neither package's pins on numpy or protobuf move the other's.
set -euo pipefail

version=2.21.0
cache="${AVC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/avc}"
venv="$cache/tf-$version"

if ! "$venv/bin/python" -c 'import tensorflow, numpy' >/dev/null 2>&1; then
  echo "avc: installing tensorflow-cpu==$version into $venv (first run only, about 1.5 GB)" >&2
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off \
    "tensorflow-cpu==$version" numpy >&2
fi
echo "$venv/bin/python"
