#!/usr/bin/env bash
# docs/performance.md's data-at-scale numbers (`make bench-data`): generates a YouTube-8M
# style TFRecord set of about 5 GB, times its index and its reading (cold and warm page
# cache, benches/data.rs), trains `final` on it for two epochs of B batches (300 steps by
# default, validation and test scored after each) with --profile under /usr/bin/time (peak
# RSS), prints the figures and deletes the set.
#
#   scripts/bench-data.sh [--clips N] [--steps S] [--batches B] [--dir DIR] [--keep]
#
# Clips are S frames long (default 300, YouTube-8M's longest) and fitted to final's 120 by
# random crops, so every batch reads 2.5 times the bytes it uses. Runs under nice; the load
# average is printed with the numbers (the machine may be shared).
set -euo pipefail
cd "$(dirname "$0")/.."
clips=15000 steps=300 batches=150 dir=/tmp/avc-bench-data keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --clips) clips="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--clips N] [--steps S] [--batches B] [--dir DIR] [--keep]" >&2; exit 2 ;;
  esac
done
avc=target/release/avc
[ -x "$avc" ] || cargo build --release >&2
[ "$keep" = 1 ] || trap 'rm -rf "$dir"' EXIT
export AVC_CACHE_DIR="$dir/cache"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== generating $clips clips of $steps frames into $dir (load $(load))"
rm -rf "$dir"
/usr/bin/time -f "generated in %e s, peak RSS %M KB" nice -n 10 \
  "$avc" data synth --out "$dir/set" --layout yt8m --clips "$clips" --test-clips 300 --synth "steps=$steps"
du -sh "$dir/set"

echo "== reading (load $(load))"
nice -n 10 cargo bench -q --bench data -- "$dir/set/data.yaml" 4096

echo "== training final, 2 epochs of $batches batches, --profile, OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} (load $(load))"
/usr/bin/time -f "trained in %e s, peak RSS %M KB" nice -n 10 \
  "$avc" train architectures/final.yaml --data "$dir/set/data.yaml" --crop random --device cpu \
  --set train.epochs=2 --max-batches "$batches" --runs "$dir/runs" --name bench --profile -q
python3 - "$dir/runs/bench/profile.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
ms, share = p["ms_per_batch"], p["share"]
print("per batch: " + ", ".join(f"{k} {ms[k]:.1f} ms ({100 * share[k]:.1f}%)" for k in ("data", "forward", "backward", "step")))
PY
echo "== done (load $(load))"
