# LocalStack on this host (no Docker), for the scripts that measure or test against it.
# Sourced, not run:
#
#   target=...; venv="$target/localstack-venv"; die() {...}; say() {...}
#   . scripts/localstack-lib.sh
#   ensure_localstack_venv            # Python 3.13 venv with LocalStack (and the AWS CLI) pinned
#   ls_logs=DIR ls_services=s3 start_localstack LABEL   # 127.0.0.1, free port, temp volume dir
#   ...                               # $port and $ls_pid name the server
#   stop_localstack                   # SIGTERM, SIGKILL after 10 s; removes the volume dir
#
# One copy of the pins and of the start/stop rules, so every LocalStack figure the project
# reports comes from the same server.

: "${ls_logs:=${TMPDIR:-/tmp}}"
# The first service named is the one whose health means "ready".
: "${ls_services:=stepfunctions,s3,sts,iam,events}"
ls_pid=""
volume=""
port=""

# --- Python 3.13 ------------------------------------------------------------------------------
# LocalStack 2026.3 fails at import on 3.11/3.12. A pyenv shim named python3.13 may exist and
# still fail ("command not found" for a version not selected), so each candidate is run.
is_py313() {
    [ -n "$1" ] && [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || return 1
    timeout 20 "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)' \
        </dev/null >/dev/null 2>&1
}
find_py313() {
    local c
    for c in "${PYTHON313:-}" "$(command -v python3.13 2>/dev/null || true)"; do
        if [ -n "$c" ] && is_py313 "$c"; then echo "$c"; return 0; fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        for c in "$(pyenv root)"/versions/3.13*/bin/python3.13; do
            if is_py313 "$c"; then echo "$c"; return 0; fi
        done
    fi
    for c in /usr/bin/python3.13 /usr/local/bin/python3.13 python3; do
        if is_py313 "$c"; then command -v "$c"; return 0; fi
    done
    return 1
}

# --- LocalStack's pins (a full working freeze of localstack-core[runtime]==2026.3.0) -------------
# cbor2 < 6 (6 removed a module it imports), pyOpenSSL < 25 (25 removed a method it calls),
# service-identity (missing from its extras). boto3 and psutil serve the benchmark client too,
# awscli is what bench-upload-s3.sh measures Stepwise against.
requirements() {
    cat <<'EOF'
airspeed_ext==0.6.9
annotated-types==0.8.0
antlr4-python3-runtime==4.13.2
apispec==6.10.1
asn1crypto==1.5.1
attrs==26.1.0
aws-sam-translator==1.115.0
aws-xray-sdk==2.15.0
awscli==1.44.62
awscrt==0.38.1
boto3==1.42.72
botocore==1.42.72
cachetools==8.0.1
cbor2==5.9.0
certifi==2026.10.18
cffi==2.1.1
cfn-lint==1.58.0
charset-normalizer==3.5.2
click==8.5.1
colorama==0.4.6
constantly==23.10.4
crontab==1.0.5
cryptography==44.0.3
decorator==5.3.1
dill==0.3.6
dnslib==0.9.26
dnspython==2.9.2
docker==7.2.0
docutils==0.19
Events==0.5
graphql-core==3.3.2
grpcio==1.85.1
h11==0.16.0
h2==4.4.1
hpack==4.2.0
Hypercorn==0.18.0
hyperframe==6.1.0
hyperlink==21.0.0
idna==3.20
Incremental==24.11.0
isodate==0.7.2
Jinja2==3.1.6
jmespath==1.1.0
joserfc==1.8.0
jpype1==1.7.1
jsonpatch==1.47
jsonpath-ng==1.7.0
jsonpath-rw==1.4.0
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-path==0.4.6
jsonschema-specifications==2025.9.1
kclpy-ext==3.1.3.post4
lazy-object-proxy==1.13.0
localstack-core==2026.3.0
localstack-twisted==26.4.0
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
more-itertools==11.2.1
moto-ext==5.1.54
mpmath==1.3.0
multipart==2.0.1
networkx==3.7
openapi-core==0.23.1
openapi-schema-validator==0.8.1
openapi-spec-validator==0.8.5
opensearch-protobufs==1.2.0
opensearch-py==3.2.0
packaging==26.3
pathable==0.5.0
plux==1.16.0
ply==3.11
priority==1.3.0
protobuf==7.36.2
psutil==7.2.2
py-partiql-parser==0.6.3
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
pydantic==2.13.5
pydantic-settings==2.16.3
pydantic_core==2.46.5
Pygments==2.21.0
pymongo==4.20.0
pyOpenSSL==24.3.0
pyparsing==3.3.3
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
PyYAML==6.0.3
readerwriterlock==1.0.10
referencing==0.37.0
regex==2026.11.15
requests==2.34.2
requests-aws4auth==1.4.0
responses==0.26.3
rfc3339-validator==0.1.4
rich==15.0.0
rolo==0.8.9
rpds-py==2026.9.1
rsa==4.7.2
s3transfer==0.16.1
semver==3.1.1
service-identity==24.2.0
setuptools==84.2.1
six==1.17.0
sympy==1.14.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
wsproto==1.3.2
xmltodict==1.0.4
zope.interface==8.7
EOF
}

# Builds the venv once; reuses it while the pins are unchanged and LocalStack imports.
ensure_localstack_venv() {
    py313="$(find_py313)" || die "Python 3.13 not found (LocalStack 2026.3 needs exactly 3.13; 3.11/3.12 fail at import).
  Install it (e.g. pyenv install 3.13.0, or Debian's python3.13 + python3.13-venv) or set PYTHON313=/path/to/python3.13."
    say "python: $py313 ($("$py313" --version 2>&1))"

    mkdir -p "$target"
    req_file="$(mktemp)"
    requirements >"$req_file"
    stamp="$venv/.stepwise-requirements"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req_file" "$stamp" \
        && timeout 60 "$venv/bin/python" -c 'import localstack, boto3, psutil' 2>/dev/null \
        && [ -x "$venv/bin/aws" ]; then
        say "venv: reusing $venv"
    else
        say "venv: installing LocalStack into $venv (about 3 minutes with an empty pip cache)"
        if [ ! -x "$venv/bin/python" ] || ! timeout 20 "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            rm -rf "$venv"
            "$py313" -m venv "$venv" || die "python3.13 -m venv failed (on Debian: apt-get install python3.13-venv)"
        fi
        "$venv/bin/pip" install --disable-pip-version-check -q --no-deps -r "$req_file" \
            || die "pip install of LocalStack's pins failed"
        cp "$req_file" "$stamp"
    fi
    rm -f "$req_file"
}

start_localstack() { # $1: label
    port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    volume="$(mktemp -d -t stepwise-localstack.XXXXXX)"
    local log="$ls_logs/server-$1.log"
    say "LocalStack ($1): starting on 127.0.0.1:$port (log: $log)"
    GATEWAY_LISTEN="127.0.0.1:$port" GATEWAY_SERVER=hypercorn DNS_ADDRESS=0 \
        SERVICES="$ls_services" EAGER_SERVICE_LOADING=1 DISABLE_EVENTS=1 \
        SKIP_SSL_CERT_DOWNLOAD=1 LOCALSTACK_VOLUME_DIR="$volume" \
        "$venv/bin/python" -m localstack.runtime.main >"$log" 2>&1 </dev/null &
    ls_pid=$!
    "$venv/bin/python" - "$port" "$ls_pid" "${ls_services%%,*}" <<'EOF2' || { tail -n 40 "$log" >&2; die "LocalStack did not become healthy"; }
import json, os, sys, time, urllib.request
port, pid, service = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.time() + 180
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("LocalStack exited during start-up")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=2) as r:
            if json.load(r).get("services", {}).get(service) in ("available", "running"):
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit("LocalStack: not healthy after 180 s")
EOF2
}

stop_localstack() {
    if [ -n "$ls_pid" ] && kill -0 "$ls_pid" 2>/dev/null; then
        kill -TERM "$ls_pid" 2>/dev/null || true
        # LocalStack waits for open requests on SIGTERM, and GetActivityTask holds one for up to
        # 60 s (executions blocked on an activity may also keep it up): SIGKILL after 10 s.
        local i
        for i in $(seq 1 20); do
            kill -0 "$ls_pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$ls_pid" 2>/dev/null; then
            say "LocalStack (pid $ls_pid) still up 10 s after SIGTERM; SIGKILL"
            kill -KILL "$ls_pid" 2>/dev/null || true
        fi
        wait "$ls_pid" 2>/dev/null || true
    fi
    ls_pid=""
    if [ -n "$volume" ]; then rm -rf "$volume"; fi
    volume=""
}
