#!/usr/bin/env bash
# Runs every test Stepwise has that needs nothing beside this checkout.
# Usage: scripts/test.sh        (the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "scripts/test.sh: cargo not found; install the Rust toolchain (https://rustup.rs) first." >&2
    exit 2
fi

# Unit tests, the integration tests (CLI contract, validator, edits, round trips, fuzzing of
# bad input, layer checks) and doc tests.
cargo test --locked
# Benchmarks and examples must keep compiling even when nobody runs them.
cargo build --locked --benches --examples
# The real window under Xvfb: a screenshot must show the workflow (installs Xvfb when missing).
bash scripts/ui-smoke.sh
# The AWS code path against LocalStack and `stepwise serve` (installs and starts LocalStack;
# says loudly when Python 3.13 is missing, which fails CI).
bash scripts/test-aws.sh
