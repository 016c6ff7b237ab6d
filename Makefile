# The two commands of the README. Both install libtorch on first use (scripts/libtorch.sh).
SHELL := bash
.PHONY: setup build train test results test-slurm

# libtorch, and the tools the tests drive besides avc (GNU parallel, via apt-get when missing).
setup:
	@scripts/libtorch.sh > /dev/null
	@scripts/tools.sh

build: setup
	cargo build --release

train: build
	target/release/avc train architectures/final.yaml

test: setup
	cargo test --release

# docs/results.md's table: every architecture, 8 epochs, seeds 1-5 (about an hour on 2 cores).
results: build
	scripts/results.sh --seeds "1 2 3 4 5" --set train.epochs=8

# A one-node Slurm cluster on this machine (installs slurm-wlm and munge with apt-get; needs
# root) runs a sweep through sbatch, a task cancelled and resubmitted (docs/sweeps.md).
test-slurm: build
	scripts/slurm-local.sh
