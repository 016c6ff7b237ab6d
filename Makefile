# The two commands of the README. Both install libtorch on first use (scripts/libtorch.sh).
SHELL := bash
.PHONY: setup build train test

setup:
	@scripts/libtorch.sh > /dev/null

build: setup
	cargo build --release

train: build
	target/release/avc train architectures/final.yaml

test: setup
	cargo test --release
