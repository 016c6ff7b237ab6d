#!/usr/bin/env bash
# Installs the command-line tools the test suite drives besides avc: GNU parallel
# (tests/sweep_engines.rs runs a sweep through it). Debian or Ubuntu, with apt-get; does
# nothing when the tools are there already. `make setup` (and so `make test`) runs it.
set -euo pipefail
missing=()
command -v parallel > /dev/null || missing+=(parallel)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get > /dev/null; then
  echo "error: install ${missing[*]} (GNU parallel) with your package manager; the tests run sweeps through it" >&2
  exit 1
fi
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
echo "installing ${missing[*]} with apt-get" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
