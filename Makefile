# The two commands of the README. Both install libtorch on first use (scripts/libtorch.sh).
SHELL := bash
.PHONY: setup build train test results

setup:
	@scripts/libtorch.sh > /dev/null

build: setup
	cargo build --release

train: build
	target/release/avc train architectures/final.yaml

test: setup
	cargo test --release

# docs/results.md's table: every architecture, 8 epochs, seeds 1-5 (about an hour on 2 cores).
results: build
	scripts/results.sh --seeds "1 2 3 4 5" --set train.epochs=8
