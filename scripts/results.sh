#!/usr/bin/env bash
# Regenerates the results table: trains each architecture with each seed on the embedded
# data and prints a Markdown table of the best (by validation) checkpoint's test numbers,
# mean and spread over seeds.
#
#   scripts/results.sh [--seeds "1 2 3"] [--out DIR] [--set train.KEY=VALUE ...] ARCH ...
#
# Seeds are the outer loop, so an interrupted table has every architecture at fewer seeds
# rather than some architectures at none; `--out DIR` continues a table, skipping the runs
# that finished. The binary is copied into the output directory first, so rebuilding avc
# while the table trains does not mix versions.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1 2 3"
sets=()
archs=()
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) archs+=("$1"); shift ;;
  esac
done
out="${out:-runs/results-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
if [ ! -x "$out/avc" ]; then
  make -s build >&2
  cp target/release/avc "$out/avc"
fi
for seed in $seeds; do
  for arch in "${archs[@]}"; do
    stem=$(basename "${arch%.*}")
    [ -f "$out/$stem-seed$seed.seconds" ] && continue
    rm -rf "${out:?}/$stem-seed$seed"
    echo "$(date +%H:%M:%S) training $stem, seed $seed" >&2
    /usr/bin/env time -f "%e" -o "$out/$stem-seed$seed.seconds.partial" \
      "$out/avc" train "$arch" --runs "$out" --name "$stem-seed$seed" \
      --set "train.seed=$seed" ${sets[@]+"${sets[@]}"} -q >&2
    mv "$out/$stem-seed$seed.seconds.partial" "$out/$stem-seed$seed.seconds"
  done
done
python3 - "$out" <<'PY'
import json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
rows = {}
for state in sorted(out.glob("*-seed*/best/state.json")):
    run = state.parent.parent
    stem, seed = run.name.rsplit("-seed", 1)
    best_epoch = json.loads(state.read_text())["best_epoch"]
    history = [json.loads(l) for l in open(run / "metrics.jsonl")]
    m = next(h for h in history if h["epoch"] == best_epoch)
    secs = float((out / f"{run.name}.seconds").read_text().strip())
    rows.setdefault(stem, []).append((int(seed), m, secs, len(history)))
def ms(xs):
    xs = [100 * x for x in xs]
    return f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs):.1f}" if len(xs) > 1 else f"{xs[0]:.1f}"
print("| architecture | seeds | test top-1 % | test top-5 % | val top-1 % | best epoch | epochs | minutes per run |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for stem, runs in rows.items():
    seeds = ",".join(str(s) for s, *_ in runs)
    t1 = ms([m["test"]["top1"] for _, m, _, _ in runs])
    t5 = ms([m["test"]["top5"] for _, m, _, _ in runs])
    v1 = ms([m["val"]["top1"] for _, m, _, _ in runs])
    be = ",".join(str(m["epoch"]) for _, m, _, _ in runs)
    ep = runs[0][3]
    mins = statistics.mean(s for *_, s, _ in runs) / 60
    print(f"| {stem} | {seeds} | {t1} | {t5} | {v1} | {be} | {ep} | {mins:.1f} |")
PY
