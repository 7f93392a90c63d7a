#!/usr/bin/env bash
# Stepwise's S3 uploader against `aws s3 cp`, on the same file and the same endpoint, in one run.
#
#   scripts/bench-upload-s3.sh
#
# 1. Builds (once) the LocalStack venv that bench-localstack.sh uses (LocalStack and the AWS
#    CLI pinned; scripts/localstack-lib.sh).
# 2. Builds the uploader (examples/s3_upload.rs) and the bench (benches/upload_s3.rs) before
#    LocalStack starts, so the compiler and the server never share the CPU.
# 3. Starts LocalStack with S3 only (127.0.0.1, a free port, a temporary volume dir; stopped
#    with a kill timeout, also on exit) and creates the bucket `bench`.
# 4. Runs the bench: median MB/s of `aws s3 cp` and of the uploader on a 256 MiB file, their
#    ratio, and the uploader's peak RSS on a 1 GiB file. Prints it and writes it to
#    target/bench-upload-s3.md.
#
# Not part of CI: it needs PyPI on its first run (~3 min of pip) and takes a few minutes.
#
# Environment:
#   STEPWISE_BENCH_RUNS          timed runs of each tool (default 5, after one warm-up each)
#   STEPWISE_BENCH_UPLOAD_ARGS   extra uploader arguments, to tune: "--part-size-mib 16 --concurrency 8"
#   STEPWISE_BENCH_SKIP_MEMORY=1 skip the 1 GiB run
#   S3_TESTS=1                   also run `cargo test --test tests s3_upload` against the server
#   PYTHON313                    path to a Python 3.13 interpreter (default: searched)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/localstack-venv"
out_md="$target/bench-upload-s3.md"
logs="$target/bench-upload-s3"

die() { echo "bench-upload-s3: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

. "$root/scripts/localstack-lib.sh"
ensure_localstack_venv

say "cargo build --release --example s3_upload; cargo bench --bench upload_s3 --no-run"
cargo build --release --example s3_upload || die "building the uploader failed"
cargo bench --bench upload_s3 --no-run || die "building the bench failed"
if [ "${S3_TESTS:-0}" = 1 ]; then
    cargo test --test tests --no-run || die "building the tests failed"
fi

rm -rf "$logs"
mkdir -p "$logs"
ls_logs="$logs"
ls_services=s3
trap 'rc=$?; stop_localstack; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_localstack s3
endpoint="http://127.0.0.1:$port"

# LocalStack's dummy credentials; never real ones.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
"$venv/bin/aws" --endpoint-url "$endpoint" s3 mb s3://bench >/dev/null || die "creating the bucket failed"

if [ "${S3_TESTS:-0}" = 1 ]; then
    say "cargo test --test tests s3_upload against $endpoint"
    STEPWISE_TEST_S3_ENDPOINT="$endpoint" cargo test --test tests s3_upload || die "the S3 upload tests failed"
fi

say "cargo bench --bench upload_s3 against $endpoint (aws: $("$venv/bin/aws" --version 2>&1))"
STEPWISE_BENCH_S3_ENDPOINT="$endpoint" \
    STEPWISE_BENCH_UPLOADER="$target/release/examples/s3_upload" \
    STEPWISE_BENCH_AWS="$venv/bin/aws" \
    STEPWISE_BENCH_BUCKET=bench \
    cargo bench --bench upload_s3 2>"$logs/cargo.log" | tee "$logs/bench.txt" \
    || { tail -n 40 "$logs/cargo.log" >&2; die "the bench failed (server log: $logs/server-s3.log)"; }

{
    echo "# S3 upload: Stepwise against aws s3 cp ($(date -u +%Y-%m-%d), LocalStack $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("localstack-core"))'), $(nproc) cores)"
    echo
    echo '```'
    grep -v '^$' "$logs/bench.txt"
    echo '```'
} >"$out_md"
say "table in $out_md"
