#!/usr/bin/env bash
# Installs the command-line tools the test suite drives besides avc: GNU parallel
# (tests/sweep_engines.rs runs a sweep through it), and the build's one system library:
# Gloo's headers (libgloo-dev), which build.rs compiles src/shim/dist.cpp against for
# c10d's ProcessGroupGloo (the symbols are in libtorch; only the headers are missing from
# the wheel). Debian or Ubuntu, with apt-get; does nothing when the tools are there already.
# `make setup` (and so `make test`) runs it.
set -euo pipefail
missing=()
command -v parallel > /dev/null || missing+=(parallel)
[ -f /usr/include/gloo/config.h ] || missing+=(libgloo-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get > /dev/null; then
  echo "error: install ${missing[*]} with your package manager (GNU parallel: the tests run sweeps through it; Gloo's headers: the build compiles c10d's Gloo process group against them)" >&2
  exit 1
fi
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
echo "installing ${missing[*]} with apt-get" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
