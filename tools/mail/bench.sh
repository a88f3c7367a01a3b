#!/usr/bin/env bash
# The delivery rate of authd's mail worker to an SMTP server on loopback (smtp-sink.py, on
# aiosmtpd): COUNT messages are put in the outbox of a fresh data directory before authd
# starts, the worker sends them over one kept connection, and the rate is counted from the
# first message's arrival at the server to the last's (authd's start is left out).
#
#   tools/mail/bench.sh [COUNT]      (default 2000; release build)
#   MAIL_BENCH_AUTHD=.build/debug/authd tools/mail/bench.sh [COUNT]   (that binary instead)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-2000}"
PATH="$(tools/python-tools.sh):$PATH" # aiosmtpd, in the tests' Python environment
authd_binary="${MAIL_BENCH_AUTHD:-}"
if [ -z "$authd_binary" ]; then
    swift build -c release --product authd >/dev/null
    authd_binary=.build/release/authd
fi
work="$(mktemp -d)"
trap 'kill $sink $authd 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
sink=""; authd=""
mkdir -p "$work/data/maildir/new" "$work/data/maildir/tmp" "$work/data/maildir/cur" "$work/data/maildir/failed"
chmod -R go-rwx "$work/data"
python3 - "$work/data/maildir/new" "$count" <<'PY'
import os, secrets, sys, time, uuid
folder, count = sys.argv[1], int(sys.argv[2])
now = int(time.time())
for index in range(count):
    token = secrets.token_urlsafe(16)[:22] + "." + secrets.token_urlsafe(32)[:43]
    body = (
        f"From: Authlog <no-reply@example.com>\r\nTo: user{index}@example.com\r\n"
        f"X-Authlog-User: {uuid.uuid4()}\r\nSubject: Confirm your email address\r\n"
        f"Date: Wed, 02 Dec 2026 06:00:00 +0000\r\nMessage-ID: <{index}@authlog>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Confirm your email address with this token:\r\n\r\n{token}\r\n"
    )
    path = os.path.join(folder, f"{now}.{uuid.uuid4()}.authlog")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(body)
PY
python3 tools/mail/smtp-sink.py --dir "$work/received" >"$work/sink.out" 2>&1 &
sink=$!
until grep -q listening "$work/sink.out" 2>/dev/null; do sleep 0.1; done
port="$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/sink.out")"
"$authd_binary" --data "$work/data" --port 0 --smtp-url "smtp://127.0.0.1:$port" \
    --mail-from "Authlog <no-reply@example.com>" >"$work/authd.out" 2>&1 &
authd=$!
deadline=$((SECONDS + 600))
while [ "$(ls "$work/received" 2>/dev/null | grep -vc '^\.')" -lt "$count" ]; do
    [ $SECONDS -lt $deadline ] || { echo "bench: timed out" >&2; exit 1; }
    sleep 0.2
done
python3 - "$work/received" "$count" <<'PY'
import os, sys
names = sorted(name for name in os.listdir(sys.argv[1]) if not name.startswith("."))
first, last = int(names[0].split("-")[0]), int(names[-1].split("-")[0])
seconds = (last - first) / 1e9
print(f"{len(names)} messages delivered in {seconds:.2f} s: {(len(names) - 1) / seconds:.0f} messages/s")
PY
