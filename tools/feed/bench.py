#!/usr/bin/env python3
"""The log as a feed, measured against a real authd on loopback (standard library only).

    tools/feed/bench.py [--authd BIN] [--authctl BIN] [--users N] [--clients C]
                        [--rate R] [--seconds S] [--webhooks]

1. Feed read rate: `authctl seed` writes N users (about six events each) into a fresh data
   directory; one client then pages through `GET /v1/events?after=P&limit=1000` with an
   ADMIN token, three passes, and the events per second of each pass are printed.
2. SSE fan-out: C clients hold `GET /v1/events/stream` open from the log's head; registrations
   are then sent at R per second for S seconds. Each client notes when each event reaches it;
   the delay of an event is that moment minus the event's `recorded_at` (the time the command
   decided, before its commit), so it counts the commit too. Printed: deliveries, delays p50,
   p99 and max, and the share within 100 ms.
3. With --webhooks: an endpoint on tools/webhooks/receiver.py (one thread per request, and it
   verifies every signature), added with `authctl webhooks add --after 0` after the seed,
   receives the whole seeded log while 1 and 2 run; printed: deliveries per second from the
   first acknowledged to the last.

The load generator shares the machine's cores with authd: the figures are for this machine
with this client, not limits of authd alone.
"""

import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_PASSWORD = "an admin passphrase for the feed benchmark"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, token=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    connection.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def micros(text):
    # recorded_at is RFC 3339 in UTC with six fractional digits.
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    epoch = datetime(1970, 1, 1)
    delta = moment - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def read_rate(port, token):
    rates = []
    for _ in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        after, count, start = 0, 0, time.perf_counter()
        while True:
            connection.request(
                "GET", f"/v1/events?after={after}&limit=1000", headers={"Authorization": "Bearer " + token}
            )
            response = connection.getresponse()
            page = json.loads(response.read())
            if response.status != 200:
                sys.exit(f"feed: {response.status} {page}")
            events = page["events"] if isinstance(page, dict) else page
            if not events:
                break
            count += len(events)
            after = events[-1]["position"]
        seconds = time.perf_counter() - start
        connection.close()
        rates.append(count / seconds)
        print(f"feed read: {count} events in {seconds:.2f} s: {count / seconds:,.0f} events/s", flush=True)
    return rates


async def stream_client(port, token, after, delays, last, ready, stop):
    """One stream from `after`: appends each event's delay to `delays` and keeps the last
    position seen in `last[0]`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET /v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Last-Event-ID: {after}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise SystemExit(f"stream: {status!r}")
    ready.release()
    while not stop.is_set():
        try:
            line = await asyncio.wait_for(reader.readline(), 0.5)
        except asyncio.TimeoutError:
            continue
        if not line:
            break
        # Chunked framing: event lines start with "data: "; chunk sizes and blank lines do not.
        if line.startswith(b"data: "):
            now = time.time_ns() // 1000
            event = json.loads(line[6:])
            delays.append((now - micros(event["recorded_at"])) / 1000)
            last[0] = event["position"]
    writer.close()


async def fan_out(port, token, head, clients, rate, seconds):
    delays, stop = [], asyncio.Event()
    ready = asyncio.Semaphore(0)
    lasts = [[head] for _ in range(clients)]
    tasks = [
        asyncio.create_task(stream_client(port, token, head, delays, lasts[n], ready, stop)) for n in range(clients)
    ]
    for _ in range(clients):
        await ready.acquire()
    loop = asyncio.get_running_loop()
    sent, start = 0, time.perf_counter()

    def register(n):
        status, body = request(
            port,
            "POST",
            "/v1/users",
            {"email": f"fan{n}@example.com", "password": "a fan-out passphrase", "first_name": "F", "last_name": "O"},
        )
        if status != 201:
            raise SystemExit(f"register: {status} {body[:200]!r}")

    pending = []
    while time.perf_counter() - start < seconds:
        pending.append(loop.run_in_executor(None, register, sent))
        sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    await asyncio.gather(*pending)
    # Every stream is waited for until it has the log's new head: no late delivery is left out.
    status, body = request(port, "GET", "/v1/events?after=0&limit=1", token=token)
    final = json.loads(body)["head"]
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and any(last[0] < final for last in lasts):
        await asyncio.sleep(0.05)
    behind = sum(1 for last in lasts if last[0] < final)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return sent, final - head, behind, delays


def wait_for_health(port, process):
    for _ in range(300):
        if process.poll() is not None:
            sys.exit("authd exited at start")
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("authd did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authd", default=os.path.join(ROOT, ".build/release/authd"))
    parser.add_argument("--authctl", default=os.path.join(ROOT, ".build/release/authctl"))
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--webhooks", action="store_true")
    options = parser.parse_args()
    work = tempfile.mkdtemp()
    data = os.path.join(work, "data")
    processes = []
    try:
        subprocess.run(
            [options.authctl, "--data", data, "create-admin", "--email", "feed-admin@example.com"],
            input=ADMIN_PASSWORD.encode(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [options.authctl, "--data", data, "seed", "--users", str(options.users), "--events", str(options.users * 6), "--force"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        received = os.path.join(work, "webhooks.log")
        if options.webhooks:
            receiver = subprocess.Popen(
                [sys.executable, os.path.join(ROOT, "tools/webhooks/receiver.py"), "--log", received,
                 "--secret-file", os.path.join(work, "secret")],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            processes.append(receiver)
            receiver_port = int(receiver.stdout.readline().split()[-1])
            added = subprocess.run(
                [options.authctl, "--data", data, "webhooks", "add", f"http://127.0.0.1:{receiver_port}/hook",
                 "--events", "*", "--after", "0"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            secret = next(word for word in added.split() if word.startswith("whsec_"))
            with open(os.open(os.path.join(work, "secret"), os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:
                file.write(secret)
        port = free_port()
        authd = subprocess.Popen(
            [options.authd, "--data", data, "--port", str(port), "--registration-rate-limit", "1000000",
             "--rate-limit", "1000000", "--max-streams", str(options.clients + 16),
             "--max-streams-per-address", str(options.clients + 16)],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(work, "authd.err"), "w"),
        )
        processes.append(authd)
        wait_for_health(port, authd)
        status, body = request(
            port, "POST", "/v1/sessions", {"email": "feed-admin@example.com", "password": ADMIN_PASSWORD}
        )
        token = json.loads(body)["access_token"]
        read_rate(port, token)
        head = 0
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            connection.request("GET", f"/v1/events?after={head}&limit=1000", headers={"Authorization": "Bearer " + token})
            page = json.loads(connection.getresponse().read())
            events = page["events"] if isinstance(page, dict) else page
            if not events:
                break
            head = events[-1]["position"]
        connection.close()
        sent, events, behind, delays = asyncio.run(
            fan_out(port, token, head, options.clients, options.rate, options.seconds)
        )
        if behind:
            sys.exit(f"fan-out: {behind} streams did not reach the head within 30 s")
        if len(delays) != events * options.clients:
            sys.exit(f"fan-out: {len(delays)} deliveries, expected {events} events x {options.clients} streams")
        within = sum(1 for d in delays if d <= 100) / len(delays)
        print(
            f"fan-out: {options.clients} streams, {sent} registrations at {options.rate:g}/s ({events} events), "
            f"{len(delays)} deliveries; delay ms p50 {statistics.median(delays):.1f}, "
            f"p99 {percentile(delays, 0.99):.1f}, max {max(delays):.1f}; within 100 ms: {within:.1%}",
            flush=True,
        )
        if options.webhooks:
            # Every seeded event once with a 200 (the fan-out's registrations come after them).
            deadline = time.perf_counter() + 600
            while time.perf_counter() < deadline:
                with open(received) as log:
                    lines = [json.loads(line) for line in log if line.strip()]
                acknowledged = {line["position"] for line in lines if line["status"] == 200}
                if len([p for p in acknowledged if p is not None and p <= head]) >= head:
                    break
                time.sleep(0.2)
            done = [line["at"] for line in lines if line["status"] == 200 and line["position"] <= head]
            seconds = max(done) - min(done)
            print(
                f"webhooks: {len(done)} deliveries of the {head} seeded events in {seconds:.1f} s: "
                f"{len(done) / seconds:,.0f} deliveries/s (first to last)",
                flush=True,
            )
    finally:
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
