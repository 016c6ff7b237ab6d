# The two commands of the README. Both install libtorch on first use (scripts/libtorch.sh).
SHELL := bash
.PHONY: setup build train test results results-speech test-slurm bench yt8m-fixtures bench-data gpu-check

# libtorch, and the tools the tests drive besides avc (GNU parallel, via apt-get when missing).
setup:
	@scripts/libtorch.sh > /dev/null
	@scripts/tools.sh

build: setup
	cargo build --release

train: build
	target/release/avc train architectures/final.yaml

# Both crates: the language's tests (crates/avc-lang, no libtorch needed) and the torch side's.
test: setup
	cargo test --release --workspace

# docs/results.md's table: every architecture, 8 epochs, seeds 1-5 (about an hour on 2 cores).
results: build
	scripts/results.sh --seeds "1 2 3 4 5" --set train.epochs=8

# Issue 23's slow check: every shipped architecture trained on the speech set (built first when
# missing, docs/speech-set.md) and evaluated full-N with intervals; fails when one stays at
# chance. SPEECH_ARGS passes options, e.g. SPEECH_ARGS="--epochs 8 --data /tmp/speech-set".
results-speech: build
	scripts/speech-results.sh $(SPEECH_ARGS)

# A one-node Slurm cluster on this machine (installs slurm-wlm and munge with apt-get; needs
# root) runs a sweep through sbatch, a task cancelled and resubmitted (docs/sweeps.md).
test-slurm: build
	scripts/slurm-local.sh

# docs/performance.md's numbers: compile speed, then scoring and training side by side with
# PyTorch (the venv's torch; a few minutes on 2 cores). BENCH_ARGS passes options, e.g.
# BENCH_ARGS="--threads 1 --only ab" or "--full" for the whole 1,270-clip N-way eval.
bench: setup
	cargo bench --bench compile
	cargo bench --bench eval -- $(BENCH_ARGS)

# The reference YouTube-8M shards in tests/fixtures/yt8m/, written again by TensorFlow
# (scripts/tensorflow.sh installs tensorflow-cpu into a venv of its own on first use). The
# tests only read the committed files; `git status` stays clean when nothing changed.
yt8m-fixtures:
	TF_CPP_MIN_LOG_LEVEL=2 "$$(scripts/tensorflow.sh)" tests/fixtures/yt8m/make_yt8m_fixtures.py tests/fixtures/yt8m

# docs/performance.md's data-at-scale figures: a 5 GB TFRecord set generated under /tmp,
# read cold and warm, and `final` trained on it for 300 steps with its peak RSS and the data
# share of a step (5-10 minutes on 2 cores, with 5.4 GB free under /tmp; deleted afterwards).
bench-data: build
	scripts/bench-data.sh $(BENCH_ARGS)

# On a machine with a CUDA GPU (docs/gpu.md): avc doctor, final and two_tower trained at
# fp32, bf16 and fp16, evaluated on the GPU and the CPU and compared. Not part of `make test`.
gpu-check: build
	scripts/gpu-check.sh $(GPU_ARGS)
