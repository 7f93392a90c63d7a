#!/usr/bin/env bash
# The AWS code path, end to end, against a real AWS-compatible server nobody here wrote:
# installs LocalStack (Python 3.13 venv, pinned; scripts/localstack-lib.sh), starts it on
# 127.0.0.1, and runs the tests that drive Stepwise's AWS backend against it
# (the `aws_sfn` and `aws_e2e` tests, which also drive `stepwise serve`, and the S3
# uploader's own `s3_upload` tests). scripts/test.sh
# calls it; it can run alone.
#
# Without Python 3.13 the LocalStack tests cannot run: this says so loudly. Under CI
# (STEPWISE_CI=1, set by .ci/run) that is a failure; on a developer's machine the rest of the
# suite still counts, and the message says what to install.
#
# Environment:
#   PYTHON313             path to a Python 3.13 interpreter (default: searched)
#   STEPWISE_SKIP_AWS=1   skip (say so) — for a quick local run without PyPI
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/localstack-venv"
logs="$target/test-aws"
mkdir -p "$logs"

loud() {
    printf '\n%s\n' "######################################################################" >&2
    printf 'scripts/test-aws.sh: %s\n' "$@" >&2
    printf '%s\n\n' "######################################################################" >&2
}
die() {
    loud "$*"
    if [ "${STEPWISE_CI:-}" = 1 ]; then
        exit 1
    fi
    loud "NOT RUN: the AWS end-to-end tests (LocalStack). Not under CI, so this is not a failure."
    exit 0
}
say() { echo "== test-aws: $*" >&2; }

if [ "${STEPWISE_SKIP_AWS:-}" = 1 ]; then
    if [ "${STEPWISE_CI:-}" = 1 ]; then
        loud "STEPWISE_SKIP_AWS=1 under CI: the AWS end-to-end tests must run."
        exit 1
    fi
    loud "STEPWISE_SKIP_AWS=1: the AWS end-to-end tests (LocalStack) are NOT run."
    exit 0
fi

# Build first, so the compiler and LocalStack never share the two cores.
cargo test --locked --test tests --no-run 2>&1 | tail -n 3

ls_logs="$logs"
. "$root/scripts/localstack-lib.sh"
ensure_localstack_venv
trap stop_localstack EXIT
start_localstack e2e
say "LocalStack on 127.0.0.1:$port"

# Dummy credentials: LocalStack accepts any; nothing here is a real secret.
# The AWS CLI and boto3 from that venv drive `stepwise serve` too; here their tests may not skip.
STEPWISE_TEST_AWS_ENDPOINT="http://127.0.0.1:$port" STEPWISE_TEST_S3_ENDPOINT="http://127.0.0.1:$port" \
STEPWISE_TEST_PYTHON="$venv/bin/python" STEPWISE_REQUIRE_CLIENTS=1 \
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    cargo test --locked --test tests -- --test-threads=1 --nocapture aws_sfn:: aws_e2e:: s3_upload:: \
        serve::the_aws_cli_works_against_serve serve::serve_answers_a_boto3_activity_worker
