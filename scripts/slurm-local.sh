#!/usr/bin/env bash
# `make test-slurm`: a real one-node Slurm cluster on this machine runs an avc sweep through
# sbatch, one array task is cancelled part-way with scancel and resubmitted, and
# `avc sweep --collect` must give the tables of the same sweep trained in one process; then a
# sweep of one run on two ranks (--ntasks-per-run 2: srun inside the array task) must finish
# with both ranks started and rank 0's record saying so.
#
#   scripts/slurm-local.sh [--keep]      (as root, on Debian or Ubuntu)
#
# It installs Debian's slurm-wlm and munge when they are missing, writes a cluster of one
# node (this host, on 127.0.0.1) under $AVC_SLURM_DIR (default /tmp/avc-slurm), starts munged,
# slurmctld and slurmd there, and stops them again at the end (--keep leaves them running
# and prints how to stop them). Nothing outside that folder is configured: the daemons and
# the Slurm commands read its slurm.conf through SLURM_CONF.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
keep=0
[ "${1:-}" = "--keep" ] && keep=1
base=${AVC_SLURM_DIR:-/tmp/avc-slurm}
avc="$repo/target/release/avc"
t0=$(date +%s)
say() { echo "[slurm-local $(($(date +%s) - t0))s] $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root: it installs packages and starts munged, slurmctld and slurmd"
[ -x "$avc" ] || fail "$avc is missing: run make build first"

# --- packages ----------------------------------------------------------------------------
if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  say "installing slurm-wlm and munge with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge > /dev/null
fi
t_installed=$(date +%s)

# --- a one-node cluster --------------------------------------------------------------------
rm -rf "$base"
mkdir -p "$base"/{state,spool,log,run,work}
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)
export SLURM_CONF="$base/slurm.conf"
cat > "$SLURM_CONF" << EOF
# A one-node cluster for avc's sweep test (scripts/slurm-local.sh).
ClusterName=avc-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool
SlurmctldPidFile=$base/run/slurmctld.pid
SlurmdPidFile=$base/run/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
# No cgroups in a container: plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
[ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
pids=()
stop_all() {
  if [ $keep -eq 1 ]; then
    say "left running; stop them with: kill ${pids[*]}"
    return
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
}
trap stop_all EXIT
if ! pgrep -x munged > /dev/null; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  sleep 0.5
  pids+=("$(cat /run/munge/munged.pid)")
fi
munge -n | unmunge > /dev/null || fail "munge does not work"
slurmctld -f "$SLURM_CONF"
sleep 0.5
pids+=("$(cat "$base/run/slurmctld.pid")")
slurmd -f "$SLURM_CONF" -N "$host"
sleep 0.5
pids+=("$(cat "$base/run/slurmd.pid")")
for _ in $(seq 60); do
  state=$(sinfo --noheader --format=%t 2> /dev/null || true)
  [ "$state" = "idle" ] && break
  sleep 1
done
[ "$state" = "idle" ] || { tail -20 "$base"/log/*.log >&2; fail "the node is not idle: '$state'"; }
say "cluster up: $(sinfo --noheader --format='%P %D node %c CPUs %t')"
t_cluster=$(date +%s)

# --- the sweep -----------------------------------------------------------------------------
work="$base/work"
cat > "$work/tiny.yaml" << 'EOF'
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: vproj, op: linear, in: video, out: 16}
  - {name: aproj, op: linear, in: audio, out: 16}
  - {name: joint, op: concat, in: [vproj, aproj]}
  - {name: rnn, op: lstm, in: joint, hidden: 16}
  - {name: pooled, op: max, in: rnn}
  - {name: head, op: linear, in: pooled, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
train: {epochs: 2, batch_size: 8, lr: 0.01}
EOF
# The test suite's grid; more epochs so that a task can be caught running and cancelled.
grid=(--set train.lr=0.01,0.05 --set train.batch_size=8,16 --seeds 2 --set train.epochs=60)
data=(--synth n_train=64 --synth n_test=8 --synth steps=24 --synth video_dim=16 --synth audio_dim=8)
unset OMP_NUM_THREADS
cd "$work"
say "the reference: the same sweep in one process"
OMP_NUM_THREADS=1 "$avc" sweep tiny.yaml "${grid[@]}" "${data[@]}" --device cpu --runs . --name in-process -q > /dev/null
"$avc" sweep tiny.yaml "${grid[@]}" "${data[@]}" --device cpu --emit slurm --out "$work/plan" --cpus-per-task 1 \
  --time 00:10:00 | tee "$base/plan.txt" >&2
submit=$(sed -n 's/^submit: *//p' "$base/plan.txt")
[ -n "$submit" ] || fail "avc printed no submit command"
t_sweep=$(date +%s)
say "submitting: $submit"
eval "$submit"
job_name=$(sed -n 's/^#SBATCH --job-name=//p' plan/sweep.sbatch)
queued() { squeue --noheader --array --me --name="$job_name" --format='%K %T' 2> /dev/null || true; }

# The status while tasks run and wait; then task 3 cancelled as soon as it trains (its run
# has a checkpoint): scancel sends SIGTERM, on which avc saves `last` and exits.
run3=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"][3])' plan/sweep.json)
seen_running=0
caught=0
for _ in $(seq 2400); do
  if [ $seen_running -eq 0 ] && queued | grep -q ' RUNNING'; then
    seen_running=1
    "$avc" sweep --status plan | tee "$base/status-running.txt" >&2
    grep -q "running .*task [0-9]: slurm job [0-9]*_[0-9] on $host" "$base/status-running.txt" ||
      fail "--status does not show the running tasks"
  fi
  if queued | grep -q '^3 RUNNING' && [ -d "plan/$run3/last" ]; then
    caught=1
    break
  fi
  sleep 0.05
done
[ $caught -eq 1 ] || fail "task 3 was never seen training; raise train.epochs"
job3=$(squeue --noheader --array --me --name="$job_name" --format='%K %i' | awk '$1 == 3 { print $2 }')
scancel "$job3"
say "scancel $job3 (task 3, $run3)"
for _ in $(seq 600); do
  queued | grep -q '^3 ' || break
  sleep 0.1
done
for _ in $(seq 1200); do
  [ -z "$(queued)" ] && break
  sleep 0.5
done
[ -z "$(queued)" ] || fail "the tasks did not finish: $(queued)"
"$avc" sweep --status plan | tee "$base/status-cancelled.txt" >&2
grep -q '"outcome": "stopped"' plan/tasks/3.json || fail "task 3 did not stop cleanly on SIGTERM: $(cat plan/tasks/3.json)"
grep -q "stopped .*task 3:" "$base/status-cancelled.txt" || fail "--status does not list task 3 as stopped"
resubmit=$(sed -n 's/^resubmit the 1 run that needs it: //p' "$base/status-cancelled.txt")
[ "$resubmit" = "sbatch --array=3 $work/plan/sweep.sbatch" ] || fail "unexpected resubmit command: '$resubmit'"
say "resubmitting: $resubmit"
eval "$resubmit"
for _ in $(seq 1200); do
  [ -z "$(queued)" ] && break
  sleep 0.5
done
[ -z "$(queued)" ] || fail "the resubmitted task did not finish"
"$avc" sweep --collect plan | tee "$base/collect.txt" >&2
grep -q "(Slurm, 8 runs): 8 done" "$base/collect.txt" || fail "not every run is done"
for table in results.csv summary.csv; do
  cmp "plan/$table" "in-process/$table" || fail "$table differs from the in-process sweep's"
done
body() { grep -v -e '^# Sweep:' -e '^Command:' "$1/summary.md"; }
diff <(body plan) <(body in-process) || fail "summary.md differs from the in-process sweep's"
grep -q '"resumed"' "plan/$run3/manifest.json" || fail "run 3's manifest has no resumed session"
grep -q '"threads_from": "SLURM_CPUS_PER_TASK=1"' "plan/$run3/manifest.json" || fail "threads did not follow Slurm"
[ "$(grep -c '^task 3 of' plan/tasks/3.log)" -eq 2 ] || fail "task 3's log should hold both attempts"
t_swept=$(date +%s)

# --- one run on two ranks: --ntasks-per-run 2, srun inside the array task ------------------
# The node's CPUs (2 here) are free again: the array task asks for 2 tasks of 1 CPU each.
say "a sweep of one run on 2 ranks (--ntasks-per-run 2)"
"$avc" sweep tiny.yaml "${data[@]}" --set train.epochs=2 --max-batches 4 --device cpu --emit slurm --out "$work/ranks" \
  --cpus-per-task 1 --ntasks-per-run 2 --time 00:10:00 | tee "$base/plan-ranks.txt" >&2
grep -q '^exec srun --ntasks=2 --cpus-per-task=1 ' ranks/sweep.sbatch || fail "the 2-rank script does not start srun"
submit=$(sed -n 's/^submit: *//p' "$base/plan-ranks.txt")
say "submitting: $submit"
eval "$submit"
job_name=$(sed -n 's/^#SBATCH --job-name=//p' ranks/sweep.sbatch)
run0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"][0])' ranks/sweep.json)
for _ in $(seq 1200); do
  [ -z "$(queued)" ] && break
  sleep 0.5
done
[ -z "$(queued)" ] || fail "the 2-rank task did not finish: $(queued)"
cat ranks/tasks/0.log >&2
for r in 0 1; do
  grep -qF "task 0 of $work/ranks: $run0 (rank $r of 2, on $host, pid " ranks/tasks/0.log ||
    fail "rank $r of 2 did not start (ranks/tasks/0.log)"
done
grep -q '"outcome": "done"' ranks/tasks/0.json || fail "the 2-rank task did not finish: $(cat ranks/tasks/0.json)"
grep -q '"ranks": 2' ranks/tasks/0.json || fail "the task record does not say 2 ranks: $(cat ranks/tasks/0.json)"
grep -qF "$run0: best epoch" ranks/tasks/0.log || fail "rank 0 printed no result"
[ "$(grep -c 'best epoch' ranks/tasks/0.log)" -eq 1 ] || fail "a rank other than 0 printed the result"
[ -d "ranks/$run0/last" ] || fail "the run directory has no last checkpoint"
"$avc" sweep --collect ranks | tee "$base/collect-ranks.txt" >&2
grep -q "(Slurm, 1 run of 2 ranks each): 1 done" "$base/collect-ranks.txt" || fail "--collect does not count the run done"
t_end=$(date +%s)
say "passed: install $((t_installed - t0)) s, cluster $((t_cluster - t_installed)) s, sweep $((t_swept - t_sweep)) s (reference $((t_sweep - t_cluster)) s), 2-rank run $((t_end - t_swept)) s, total $((t_end - t0)) s"
