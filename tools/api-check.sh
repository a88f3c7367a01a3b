#!/usr/bin/env bash
# Runs schemathesis (PyPI) against a real authd built for tests: no 5xx, and every response
# matches docs/openapi.yaml (schema, status code, content type), with positive and negative
# (schema-breaking) data, and stateful sequences along the schema's links (register -> login
# -> refresh; register -> read, patch, role, events, delete -> restore, erase).
#
# Every bearer token is made here: ADMINs' by authctl create-admin (and a promotion) and
# login, a TARGET's by registering and logging in over HTTP. Schemathesis reuses the ids it
# sees in responses, so a run whose token's own id shows (in /v1/users/me or a list) must not
# hold an operation that can end that user's access: a user may delete themselves, an ADMIN
# erase themselves, and logout ends the session it is called with. Hence five runs:
# - as a second ADMIN, register, delete and restore (register's and delete's links give ids);
# - as the TARGET user, the user routes but delete;
# - logout, with a throwaway session's token;
# - as ADMIN, every operation but logout, delete and erase;
# - as a third ADMIN, register and erase.
# Schemathesis still finds a run's own user now and then (a second or third ADMIN may delete
# or erase themselves part-way, and a few of that run's later calls get 401).
# Reads send `Authlog-Min-Position: 0` (pinned in schemathesis.toml): a generated position would
# lie beyond the head, which the embedded log refuses with 503 at once (tests cover that).
# Used by `./build.sh test`; API_CHECK_EXAMPLES sets the cases per operation (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
# schemathesis from the tests' Python environment (tools/python-tools.sh), run through python3
# itself, so that it needs no shim on the PATH.
PATH="$(tools/python-tools.sh):$PATH"
schemathesis() { python3 -c 'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = "schemathesis"; sys.exit(schemathesis())' "$@"; }
bin=$(swift build --show-bin-path)
data=$(mktemp -d)
printf '[parameters]\n"header.Authlog-Min-Position" = "0"\n' > "$data/schemathesis.toml"
"$bin/authctl" --data "$data/data" create-admin --email admin@example.com <<< "an admin passphrase" >/dev/null
# Port 0: authd takes a free port and logs it. A port picked here could be taken by the time
# authd binds it (a CI run failed so: the test suite's servers hold ports in the same range).
"$bin/authd" --data "$data/data" --port 0 --rate-limit 1000000 --registration-rate-limit 1000000 \
  --resets-per-account 1000000 \
  --login-failures-per-address 1000000 --login-failures-per-account 1000000 > "$data/authd.log" 2>&1 &
AUTHD=$!
# On failure, authd's own lines say why (its log goes with the temporary directory).
trap 'status=$?; [ $status -eq 0 ] || { echo "api-check: failed ($status); authd logged:" >&2; tail -n 40 "$data/authd.log" >&2; }
  kill $AUTHD 2>/dev/null || true; rm -rf "$data"' EXIT
# Up to 60 s each, to learn the port and for /healthz: right after the test suite the machine
# may still be busy.
# shellcheck source=tools/await-port.sh
. tools/await-port.sh
port=$(await_port authd $AUTHD "$data/authd.log")
url="http://127.0.0.1:$port"
schema="$PWD/docs/openapi.yaml"
ready=no
for _ in $(seq 600); do curl -sf "$url/healthz" >/dev/null && { ready=yes; break; }; sleep 0.1; done
[ $ready = yes ] || { echo "api-check: authd did not answer /healthz within 60 s" >&2; exit 1; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# A login that is refused stops the check with its answer (status and problem).
login() {
  local answer
  answer=$(curl -s -w '\n%{http_code}' "$url/v1/sessions" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}")
  [ "${answer##*$'\n'}" = 200 ] || { echo "api-check: login of $1 answered ${answer//$'\n'/ }" >&2; return 1; }
  field access_token <<< "${answer%$'\n'*}"
}
admin=$(login admin@example.com "an admin passphrase")
for who in target logout remover eraser; do
  curl -sf "$url/v1/users" -H 'content-type: application/json' -o "$data/$who.json" \
    -d "{\"email\":\"$who@example.com\",\"password\":\"a $who passphrase\",\"first_name\":\"T\",\"last_name\":\"U\"}"
done
for who in remover eraser; do
  curl -sf -X PUT "$url/v1/users/$(field id < "$data/$who.json")/role" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' -d '{"role":"ADMIN"}' >/dev/null
done
run() {
  local started=$SECONDS
  # From the temporary directory: schemathesis' and hypothesis' caches land there, so each
  # check starts afresh and the work tree stays clean.
  (cd "$data" && schemathesis run "$schema" --url "$url" --seed 1 --mode all \
    --phases "${phases:-examples,coverage,fuzzing,stateful}" --max-examples "${API_CHECK_EXAMPLES:-20}" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
    "$@")
  echo "api-check: that run took $((SECONDS - started)) s" >&2
}
# A token that came back empty would make every call a documented 401 and the run prove
# nothing: each is made here, where `set -e` stops the check if its login fails.
token() {
  local value
  value=$(login "$1" "$2")
  [ -n "$value" ] || { echo "api-check: no token for $1" >&2; exit 1; }
  echo "$value"
}
# Order matters: a run may change any user whose id it sees (the ADMIN's run demotes, and so
# logs out, users it finds in lists), so the runs whose tokens others could reach go first.
remover=$(token remover@example.com "a remover passphrase")
run -H "Authorization: Bearer $remover" --include-operation-id register \
  --include-operation-id deleteUser --include-operation-id restoreUser
target=$(token target@example.com "a target passphrase")
run -H "Authorization: Bearer $target" \
  --include-path-regex '^/v1/users(/me|/\{id\}.*)?$' --exclude-operation-id deleteUser
# Logout alone has no links to follow: no stateful phase.
logout=$(token logout@example.com "a logout passphrase")
phases=examples,coverage,fuzzing run -H "Authorization: Bearer $logout" \
  --include-path /v1/sessions/current
# The event stream never ends: EventStreamTests cover it.
run -H "Authorization: Bearer $admin" --exclude-path /v1/sessions/current \
  --exclude-operation-id deleteUser --exclude-operation-id eraseUser --exclude-operation-id eventStream
# Last, erase with an ADMIN of its own: once it has erased itself, only its own calls fail.
eraser=$(token eraser@example.com "a eraser passphrase")
run -H "Authorization: Bearer $eraser" --include-operation-id register \
  --include-operation-id eraseUser
