#!/usr/bin/env python3
"""A webhook receiver on loopback for Authlog's tests and benchmarks.

Verifies each message's Standard Webhooks signature on its own (hmac, hashlib, base64 from
Python's standard library), answers 503 while --secret-file does not exist yet, 500 to the
first --fail-first requests after it does and to every one with --always-fail, 401 to a bad
signature, 200 otherwise, and appends one JSON line per
request to --log: the method, the webhook-id, whether the signature verified, the status
answered, the event's position and type. With --redirect-status and --redirect-to it answers
every POST with that status and a Location header instead (a receiver that moved, or one
steering the sender elsewhere). A GET is answered 200 and logged (what a sender that turned a
redirected POST into a GET would send). With --stall-body it sends the status and headers
of its answer, announcing a body, and then holds the connection open sending nothing (a
receiver that never finishes its answer). Prints "listening on PORT" once it listens.
"""
import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret, headers, body):
    """Standard Webhooks: v1,base64(HMAC-SHA256(key, id.timestamp.body)), key = base64 after whsec_."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for part in headers.get("webhook-signature", "").split(" "):
        version, _, signature = part.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret-file", required=True, help="read at each request: the whsec_ secret")
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--always-fail", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    parser.add_argument("--redirect-status", type=int, default=0)
    parser.add_argument("--redirect-to", default="")
    parser.add_argument("--stall-body", action="store_true", help="announce a body, then send nothing")
    args = parser.parse_args()
    lock = threading.Lock()
    state = {"requests": 0}
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                secret = open(args.secret_file).read().strip()
            except OSError:
                secret = ""
            if not secret:
                # Not told the secret yet (authd may deliver before the test has written it):
                # 503, logged with "verified": null, and not counted among --fail-first.
                ok, status = None, 503
            else:
                ok = secret.startswith("whsec_") and verify(secret, self.headers, body)
                with lock:
                    state["requests"] += 1
                    failing = args.always_fail or state["requests"] <= args.fail_first
                status = 401 if not ok else 500 if failing else 200
            if args.redirect_status:
                status = args.redirect_status
            if args.delay:
                time.sleep(args.delay)
            try:
                message = json.loads(body)
                data = message.get("data", {})
                position, kind = data.get("position"), message.get("type")
            except ValueError:
                position, kind = None, None
            # Logged before the answer: a line with status 200 may still be unacknowledged if
            # the sender dies before reading the answer; the tests allow for that one.
            with lock:
                log.write(json.dumps({"method": "POST", "id": self.headers.get("webhook-id"), "verified": ok,
                                      "status": status, "position": position, "type": kind,
                                      "at": time.time()}) + "\n")
            self.send_response(status)
            if args.redirect_status:
                self.send_header("location", args.redirect_to)
            if args.stall_body:
                self.send_header("content-length", "10")
                self.end_headers()
                self.wfile.flush()
                # Until the sender gives up and closes the connection.
                while self.rfile.read(1):
                    pass
                return
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self):
            with lock:
                log.write(json.dumps({"method": "GET", "id": self.headers.get("webhook-id"), "verified": None,
                                      "status": 200, "position": None, "type": None, "at": time.time()}) + "\n")
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
