# Synod — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
SYNOD := ./target/release/synod
# C and C++ dependencies (RocksDB, blst) go through ccache when it is installed.
WITH_CCACHE := if command -v ccache >/dev/null 2>&1; then export CC="ccache cc" CXX="ccache c++"; fi;
# Seeds per simulator scenario in `make test` (the integration test reads it).
SYNOD_SIM_SEEDS ?= 100
export SYNOD_SIM_SEEDS
export CARGO_TERM_COLOR ?= never
# Test-only behaviour (an equivocating leader) is compiled into the test builds only.
TEST_FEATURES := --features synod-node/testing

.PHONY: help bootstrap build release contracts contracts-test test testnet testnet-down sim bench fuzz fmt lint docs clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

bootstrap: ## Install missing system packages and the pinned npm tools
	@scripts/bootstrap

build: bootstrap ## Debug build of the workspace
	$(WITH_CCACHE) $(CARGO) build --workspace

release: bootstrap ## Release build of the synod binary
	$(WITH_CCACHE) $(CARGO) build --release -p synod-node

contracts: bootstrap ## Compile the L1 contracts with the pinned solc into bridge/artifacts
	scripts/compile-contracts

test: bootstrap ## Formatting, lints and the whole test suite (what CI runs)
	scripts/compile-contracts --check
	$(MAKE) --no-print-directory contracts-test
	$(CARGO) fmt --all -- --check
	$(WITH_CCACHE) $(CARGO) clippy --workspace --all-targets $(TEST_FEATURES) -- -D warnings
	@$(WITH_CCACHE) if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace $(TEST_FEATURES) --no-fail-fast; \
	else \
		$(CARGO) test --workspace $(TEST_FEATURES) --lib --bins --tests; \
	fi

contracts-test: bootstrap ## The contracts' Foundry suite: unit, fuzz and invariant tests
	cd bridge && ../tools/node_modules/.bin/forge test

# `make testnet NODES=7 FULL_NODES=1 TESTNET_ARGS=--detach` changes the network.
NODES ?= 4
FULL_NODES ?= 0
TESTNET_DIR ?= .testnet
TESTNET_ARGS ?=

testnet: release ## Start 4 validators on 127.0.0.1 and show their status each second (Ctrl-C stops)
	$(SYNOD) testnet up --nodes $(NODES) --full-nodes $(FULL_NODES) --dir $(TESTNET_DIR) $(TESTNET_ARGS)

testnet-down: ## Stop a network started with TESTNET_ARGS=--detach
	$(SYNOD) testnet down --dir $(TESTNET_DIR)

sim: release ## Every simulator scenario with SYNOD_SIM_SEEDS seeds
	$(SYNOD) sim --scenario all --seeds $(SYNOD_SIM_SEEDS)

bench: release ## Benchmarks: engine crypto cost (criterion) and simulator throughput
	$(CARGO) bench -p synod-consensus --bench engine
	$(SYNOD) sim --scenario honest --nodes 4 --seeds 50 --blocks 1000 --threads 1
	$(SYNOD) sim --scenario large --nodes 100 --seeds 1 --blocks 1000 --threads 1

# Seconds per fuzz target in `make fuzz`.
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := decode_tx decode_batch decode_block decode_message decode_certificate decode_frames

fuzz: bootstrap ## Run each decoder fuzz target for FUZZ_SECONDS (installs cargo-fuzz if missing)
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	@# The stable toolchain with RUSTC_BOOTSTRAP builds libFuzzer's instrumentation.
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t ($(FUZZ_SECONDS) s)"; \
		(cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --sanitizer none $$t -- \
			-max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=512 -malloc_limit_mb=16 -print_final_stats=1 2>&1 \
			| grep -E '^Done|number_of_executed_units|peak_rss'); \
	done

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## Clippy with warnings as errors
	$(WITH_CCACHE) $(CARGO) clippy --workspace --all-targets $(TEST_FEATURES) -- -D warnings

docs: ## Regenerate the generated references in docs/
	$(WITH_CCACHE) UPDATE_DOCS=1 $(CARGO) test -p synod-node --test cli -- generated_cli_reference

clean: ## Remove build output
	$(CARGO) clean
