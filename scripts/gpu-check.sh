#!/usr/bin/env bash
# The GPU check (docs/gpu.md): what a person with a CUDA machine runs, in one command
# (`make gpu-check`), to see avc's CUDA path work end to end. Never part of `make test`:
# the project's own machines have no GPU. Each step prints what it checks; the script stops
# at the first failure and exits 1.
#
#   scripts/gpu-check.sh [--device cuda:0] [--out DIR]
#
# `--device cpu` rehearses the script on a machine without a GPU (fp32 and bf16 only).
#
# Steps: `avc doctor` must see CUDA; `final` and `two_tower` train 2 epochs of 20 batches on
# the embedded data at fp32, bf16 and fp16 (fp16 with loss scaling: skipped steps and the
# scale are in metrics.jsonl); each run is evaluated on CUDA and on the CPU, and the two
# must agree (top-1 within 1 query of 30, MRR within 0.01); bf16 and fp16 evaluation must
# rank as fp32 does within 2 queries.
set -euo pipefail
cd "$(dirname "$0")/.."
device="cuda"
out="${TMPDIR:-/tmp}/avc-gpu-check-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
  esac
done
make -s build >&2
avc=target/release/avc
step() { echo; echo "== $*"; }
step "avc doctor: CUDA must be available"
mkdir -p "$out"
$avc doctor | tee "$out/doctor.txt"
precisions="fp32 bf16 fp16"
if [ "$device" = cpu ]; then
  # A rehearsal of the script itself on a machine without a GPU: fp16 is CUDA's.
  precisions="fp32 bf16"
elif ! grep -q "cuda available: true" "$out/doctor.txt"; then
  echo "gpu-check: avc doctor does not see CUDA (above); nothing else can run" >&2
  exit 1
fi
# compare EVAL_A EVAL_B QUERIES: the 30-way top-1 of two evaluations of one run may differ by
# at most QUERIES queries of the test set, and their MRRs by at most 0.01.
compare() {
  python3 - "$@" <<'PY'
import json, sys
a, b, most = json.load(open(sys.argv[1] + "/metrics.json")), json.load(open(sys.argv[2] + "/metrics.json")), float(sys.argv[3])
ga, gb = a["v2a"]["groups"], b["v2a"]["groups"]
top1 = abs(ga["top1"]["value"] - gb["top1"]["value"]) * a["clips"]
mrr = abs(ga["mrr"]["value"] - gb["mrr"]["value"])
print(f"30-way top-1 {ga['top1']['value']:.3f} against {gb['top1']['value']:.3f}, MRR {ga['mrr']['value']:.4f} against {gb['mrr']['value']:.4f}")
if top1 > most + 1e-9 or mrr > 0.01:
    sys.exit(f"gpu-check: {sys.argv[1]} and {sys.argv[2]} disagree beyond {most:g} queries or 0.01 MRR")
PY
}
for arch in final two_tower; do
  for precision in $precisions; do
    name="$arch-$precision"
    step "train $arch at $precision on $device"
    $avc train "architectures/$arch.avc" --device "$device" --runs "$out" --name "$name" \
      --set train.epochs=2 --set train.batch_size=32 --set "train.precision=$precision" --max-batches 20
    tail -n 2 "$out/$name/metrics.jsonl"
    for where in "$device" cpu; do
      step "evaluate $name on $where"
      $avc eval "$out/$name" --device "$where" --out "$out/$name/eval-$where" -q
    done
    compare "$out/$name/eval-$device" "$out/$name/eval-cpu" 1
  done
done
step "bf16 and fp16 evaluation of the fp32 run of final"
for precision in ${precisions#fp32 }; do
  $avc eval "$out/final-fp32" --device "$device" --precision "$precision" --out "$out/final-fp32/eval-$precision" -q
  compare "$out/final-fp32/eval-$device" "$out/final-fp32/eval-$precision" 2
done
echo
echo "gpu-check: every step ran; runs and evaluations are in $out (send docs/gpu.md's table back)"
