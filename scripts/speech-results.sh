#!/usr/bin/env bash
# Issue 23's slow check (not CI; `make results-speech`): trains every shipped architecture on
# the speech set (docs/speech-set.md), evaluates each on all its test pairs with `avc eval`
# and prints a Markdown table with the 95% intervals. Exits 1 when an architecture stays at
# chance: the interval of its full-N top-1 (v2a) reaches down to chance (1 / N).
#
#   scripts/speech-results.sh [--data DIR] [--epochs E] [--seed S] [--out DIR] [ARCH ...]
#
# The set is built first when DIR holds none (scripts/speech-set.sh, a few minutes). Runs
# that finished are kept: `--out DIR` continues a table. The binaries are copied into the
# output directory first, so rebuilding avc while the table trains does not mix versions.
set -euo pipefail
cd "$(dirname "$0")/.."
data="$HOME/.cache/avc/speech-set"
epochs=""
seed=1
out=""
archs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) archs+=("$1"); shift ;;
  esac
done
if [ ${#archs[@]} -eq 0 ]; then
  # Every shipped file of architectures/ (not synthetic-only/, whose README says why those
  # stay at chance here), the DSL form where a model has both.
  for f in architectures/*.avc architectures/*.yaml; do
    stem=$(basename "${f%.*}")
    [ "${f##*.}" = yaml ] && [ -f "architectures/$stem.avc" ] && continue
    archs+=("$f")
  done
fi
[ -f "$data/speech-set.json" ] || scripts/speech-set.sh --out "$data"
out="${out:-runs/speech-results-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
if [ ! -x "$out/avc" ]; then
  make -s build >&2
  cp target/release/avc target/release/avc-torch "$out/"
fi
sets=(--set "train.seed=$seed")
[ -n "$epochs" ] && sets+=(--set "train.epochs=$epochs")
for arch in "${archs[@]}"; do
  stem=$(basename "${arch%.*}")
  run="$out/$stem"
  if [ ! -f "$run/eval-best/metrics.json" ]; then
    rm -rf "${run:?}"
    echo "$(date +%H:%M:%S) training $stem" >&2
    "$out/avc" train "$arch" --data "$data" --runs "$out" --name "$stem" "${sets[@]}" -q >&2
    "$out/avc" eval "$run" --data "$data" --out "$run/eval-best" -q >&2
  fi
done
stems=()
for arch in "${archs[@]}"; do stems+=("$(basename "${arch%.*}")"); done
python3 - "$out" "${stems[@]}" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
fmt = lambda m: f"{100 * m['value']:.1f}% [{100 * m['low']:.1f}, {100 * m['high']:.1f}]"
print("| architecture | epoch | full-N top-1 (v2a) | full-N MRR | 30-way top-1 | learns? |")
print("| --- | --- | --- | --- | --- | --- |")
at_chance = []
for stem in sys.argv[2:]:
    m = json.loads((out / stem / "eval-best" / "metrics.json").read_text())
    full, groups = m["v2a"]["full"], m["v2a"]["groups"]
    chance = 1 / full["candidates"]
    learns = full["top1"]["low"] > chance
    if not learns:
        at_chance.append(stem)
    mrr = full["mrr"]
    print(f"| `{stem}` | {m['epoch']} | {fmt(full['top1'])} | {mrr['value']:.3f} [{mrr['low']:.3f}, {mrr['high']:.3f}] "
          f"| {fmt(groups['top1'])} | {'yes' if learns else 'no: at chance'} |")
if at_chance:
    print(f"\nat chance (full-N top-1 interval reaches {100 / full['candidates']:.2f}%): {', '.join(at_chance)}", file=sys.stderr)
    sys.exit(1)
PY
