#!/usr/bin/env bash
# `stepwise serve` against LocalStack through the same API client: what a user gets from each.
#
#   scripts/bench-serve.sh
#
# 1. Builds target/release/stepwise before any server starts, so the compiler and the servers
#    never share the CPU.
# 2. Reuses (or builds once) the LocalStack venv of scripts/localstack-lib.sh; its boto3 is the
#    client for both servers.
# 3. For each workload of scripts/bench_localstack.py, a fresh `stepwise serve` (free port, temp
#    data and config dirs), then a fresh LocalStack, one after the other, never at the same time:
#    the 1,000-state Pass/Choice chain (polled wall time, and the server's own start/stop dates);
#    RSS growth with N executions parked on an activity; N executions started, parked and
#    completed by a worker pool (the same N for both).
# 4. Prints the table (medians, Stepwise serve ahead by ...x) and writes it to target/bench-serve.md.
#
# Not part of CI: LocalStack's side takes about 10 minutes; the first run also needs PyPI.
#
# Environment:
#   BENCH_SERVE_N              executions in the activity and memory workloads (default 1000)
#   BENCH_SERVE_ACTIVITY_RUNS  activity runs per server, each on a fresh server (default 3)
#   BENCH_SERVE_CHAIN_RUNS     measured chain runs per server, after one warm-up (default 5)
#   BENCH_SERVE_WORKERS        activity worker threads (default 8)
#   PYTHON313                  path to a Python 3.13 interpreter (default: searched)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/localstack-venv"
out_md="$target/bench-serve.md"
bin="$target/release/stepwise"

die() { echo "bench-serve: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

. "$root/scripts/localstack-lib.sh"

start_s=$(date +%s)
n="${BENCH_SERVE_N:-1000}"
runs="${BENCH_SERVE_ACTIVITY_RUNS:-3}"
chain_runs="${BENCH_SERVE_CHAIN_RUNS:-5}"
workers="${BENCH_SERVE_WORKERS:-8}"

results="$target/bench-serve"
rm -rf "$results"
mkdir -p "$results/stepwise" "$results/localstack"
ls_logs="$results/localstack"

say "cargo build --release --locked --bin stepwise (log: $results/cargo.log)"
cargo build --release --locked --bin stepwise >"$results/cargo.log" 2>&1 \
    || { tail -n 40 "$results/cargo.log" >&2; die "cargo build failed"; }
serve_version="$("$bin" --version 2>/dev/null || echo stepwise) serve ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"

ensure_localstack_venv

# --- stepwise serve ---------------------------------------------------------------------------
sw_pid=""
sw_tmp=""
start_serve() { # $1: label
    sw_tmp="$(mktemp -d -t stepwise-bench-serve.XXXXXX)"
    mkdir -p "$sw_tmp/data" "$sw_tmp/config"
    local log="$results/stepwise/server-$1.log"
    # An empty config dir: the user's worker profiles and settings stay out of the measurement.
    STEPWISE_CONFIG_DIR="$sw_tmp/config" "$bin" serve --port 0 --data-dir "$sw_tmp/data" \
        >"$log.stdout" 2>"$log" </dev/null &
    sw_pid=$!
    local i line=""
    for i in $(seq 1 200); do
        kill -0 "$sw_pid" 2>/dev/null || { cat "$log" >&2; die "stepwise serve exited during start-up"; }
        line="$(head -n 1 "$log.stdout" 2>/dev/null || true)"
        [ -n "$line" ] && break
        sleep 0.05
    done
    sw_url="$(printf '%s\n' "$line" | grep -o 'http://127\.0\.0\.1:[0-9]*' || true)"
    [ -n "$sw_url" ] || die "no URL in stepwise serve's first line: '$line'"
    say "stepwise serve ($1): $sw_url (pid $sw_pid, log: $log)"
}

stop_serve() {
    if [ -n "$sw_pid" ] && kill -0 "$sw_pid" 2>/dev/null; then
        kill -TERM "$sw_pid" 2>/dev/null || true
        # Idle workers may still hold a GetActivityTask long poll open; do not wait it out.
        local i
        for i in $(seq 1 20); do
            kill -0 "$sw_pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$sw_pid" 2>/dev/null; then
            say "stepwise serve (pid $sw_pid) still up 10 s after SIGTERM; SIGKILL"
            kill -KILL "$sw_pid" 2>/dev/null || true
        fi
        wait "$sw_pid" 2>/dev/null || true
    fi
    sw_pid=""
    if [ -n "$sw_tmp" ]; then rm -rf "$sw_tmp"; fi
    sw_tmp=""
}

trap 'rc=$?; stop_serve; stop_localstack; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_py() { # $1: stepwise|localstack, $2: subcommand, then its own arguments
    local who="$1" cmd="$2" endpoint pid label
    shift 2
    if [ "$who" = stepwise ]; then
        endpoint="$sw_url" pid="$sw_pid" label="Stepwise serve"
    else
        endpoint="http://127.0.0.1:$port" pid="$ls_pid" label="LocalStack"
    fi
    "$venv/bin/python" "$root/scripts/bench_localstack.py" "$cmd" \
        --endpoint "$endpoint" --pid "$pid" --label "$label" --workers "$workers" "$@" \
        || die "the $label benchmark ($cmd) failed (server logs: $results/$who/)"
}

# Each workload runs on a fresh server of each kind: LocalStack's activity calls scan every
# execution it holds, and a store that already holds thousands would slow either side.
run_both() { # $1: label, $2: subcommand, then its own arguments (the json path is appended)
    local label="$1" cmd="$2"
    shift 2
    start_serve "$label"
    say "Stepwise serve: $label"
    bench_py stepwise "$cmd" "$@" --json "$results/stepwise/$label.json"
    stop_serve
    start_localstack "$label"
    say "LocalStack: $label"
    bench_py localstack "$cmd" "$@" --json "$results/localstack/$label.json"
    stop_localstack
}

# The polling starts at 5 ms: the chain on Stepwise serve ends well inside a 100 ms tick.
run_both chain chain --runs "$chain_runs" --poll-min-ms 5
run_both memory memory --n "$n"
for i in $(seq 1 "$runs"); do
    run_both "activity-$i" activity --n "$n"
done

echo >&2
"$venv/bin/python" "$root/scripts/bench_localstack.py" compare-serve --serve "$results/stepwise" \
    --localstack "$results/localstack" --serve-version "$serve_version" --out "$out_md" \
    || die "report failed"
say "done in $(( $(date +%s) - start_s )) s; table in $out_md (raw results in $results/)"
