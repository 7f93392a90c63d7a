#!/usr/bin/env bash
# Stepwise's engine against LocalStack, in one run: the ratio the engine issue asks for.
#
#   scripts/bench-localstack.sh
#
# 1. Builds (once) a Python 3.13 venv under target/localstack-venv with LocalStack pinned.
# 2. Runs `cargo bench --bench engine` for Stepwise's medians (LocalStack not yet started, so
#    the two never share the CPU).
# 3. Runs scripts/bench_localstack.py against LocalStack (127.0.0.1, free port, temp volume dir,
#    a fresh server for each phase, stopped with a kill timeout, also on exit): the same
#    1,000-state Pass/Choice chain; RSS growth with N executions parked on an activity; N
#    executions started, parked and completed by a worker pool (N=1000 by default, not 10,000:
#    LocalStack is too slow for that, and the table says which N).
# 4. Prints the table and writes it to target/bench-localstack.md.
#
# Not part of CI: it needs PyPI (first run, ~3 min of pip) and takes about 15 minutes.
#
# Environment:
#   LOCALSTACK_ACTIVITY_N   executions in the activity workload (default 1000)
#   LOCALSTACK_ACTIVITY_RUNS  activity runs, each on a fresh LocalStack (default 3)
#   LOCALSTACK_CHAIN_RUNS   measured runs of the chain (default 5, after one warm-up)
#   LOCALSTACK_WORKERS      activity worker threads (default 8)
#   PYTHON313               path to a Python 3.13 interpreter (default: searched)
#   SKIP_CARGO_BENCH=1      reuse the criterion results already in target/criterion
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/localstack-venv"
out_md="$target/bench-localstack.md"

die() { echo "bench-localstack: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

. "$root/scripts/localstack-lib.sh"

start_s=$(date +%s)

ensure_localstack_venv

# --- Stepwise: cargo bench ----------------------------------------------------------------------
cargo_log="$target/bench-localstack-cargo.log"
if [ "${SKIP_CARGO_BENCH:-0}" = 1 ]; then
    say "cargo bench: skipped (SKIP_CARGO_BENCH=1), reusing $target/criterion"
    [ -f "$cargo_log" ] || : >"$cargo_log"
else
    say "cargo bench --bench engine (log: $cargo_log)"
    cargo bench --bench engine >"$cargo_log" 2>&1 || { tail -n 40 "$cargo_log" >&2; die "cargo bench failed"; }
    grep -E '^(pass_choice|activity_)|time:|thrpt:|parked executions' "$cargo_log" >&2 || true
fi

# --- LocalStack ---------------------------------------------------------------------------------
# A fresh server per phase: its activity calls scan every execution it holds, so a server that
# already ran thousands of executions would make later runs slower than earlier ones.
results="$target/bench-localstack"
rm -rf "$results"
mkdir -p "$results"
ls_logs="$results"

trap 'rc=$?; stop_localstack; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_py() { # $1: subcommand, then its own arguments
    local cmd="$1"
    shift
    "$venv/bin/python" "$root/scripts/bench_localstack.py" "$cmd" \
        --endpoint "http://127.0.0.1:$port" --pid "$ls_pid" "$@" \
        || die "the LocalStack benchmark ($cmd) failed (server logs: $results/)"
}

n="${LOCALSTACK_ACTIVITY_N:-1000}"
runs="${LOCALSTACK_ACTIVITY_RUNS:-3}"
workers="${LOCALSTACK_WORKERS:-8}"

start_localstack chain
say "LocalStack: 1,000-state chain x ${LOCALSTACK_CHAIN_RUNS:-5} (after a warm-up)"
bench_py chain --runs "${LOCALSTACK_CHAIN_RUNS:-5}" --json "$results/chain.json"
stop_localstack

start_localstack memory
say "LocalStack: RSS with $n executions parked on an activity"
bench_py memory --n "$n" --workers "$workers" --json "$results/memory.json"
stop_localstack

for i in $(seq 1 "$runs"); do
    start_localstack "activity-$i"
    say "LocalStack: $n activity executions, run $i/$runs ($workers workers)"
    bench_py activity --n "$n" --workers "$workers" --json "$results/activity-$i.json"
    stop_localstack
done

echo >&2
"$venv/bin/python" "$root/scripts/bench_localstack.py" report --criterion "$target/criterion" \
    --cargo-log "$cargo_log" --results "$results" --out "$out_md" || die "report failed"
say "done in $(( $(date +%s) - start_s )) s; table in $out_md (raw results in $results/)"
