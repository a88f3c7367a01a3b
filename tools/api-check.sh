#!/usr/bin/env bash
# Runs schemathesis (PyPI) against a real authd built for tests: no 5xx, and every response
# matches docs/openapi.yaml (schema, status code, content type). Used by `./build.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# Through python3 itself, so a fresh pip install works without a shim on the PATH.
python3 -c "import schemathesis" 2>/dev/null || python3 -m pip install -q schemathesis
schemathesis() { python3 -c 'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = "schemathesis"; sys.exit(schemathesis())' "$@"; }
bin=$(swift build --show-bin-path)
data=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$bin/authctl" --data "$data/data" create-admin --email admin@example.com <<< "an admin passphrase" >/dev/null
"$bin/authd" --data "$data/data" --port "$port" --rate-limit 1000000 --registration-rate-limit 1000000 > "$data/authd.log" 2>&1 &
AUTHD=$!
trap 'kill $AUTHD 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
token=$(curl -sf "http://127.0.0.1:$port/v1/sessions" -H 'content-type: application/json' \
  -d '{"email":"admin@example.com","password":"an admin passphrase"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
schemathesis run docs/openapi.yaml --url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples 25 --seed 1
