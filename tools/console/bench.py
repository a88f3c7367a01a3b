#!/usr/bin/env python3
"""Times the admin console's pages against a running authd (see tools/console/bench.sh).

Signs in to the console as the admin given, registers one user and gives them EVENTS events
through the API (profile changes), then fetches each page RUNS times over one kept
connection and prints, per page, the median, the 95th percentile and the largest time in
ms, from the request's first byte sent to the answer's last byte read. The first search
(which builds the search index) is timed on its own.

With --user ID the user is not made: ID (made by an earlier run) is the one timed. With
--only-user just the two pages of that user are timed (tools/console/ab.sh).
"""
import argparse
import http.client
import json
import re
import statistics
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin", required=True, help="EMAIL:PASSWORD")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--user", help="the id of a user made by an earlier run")
    parser.add_argument("--only-user", action="store_true", help="time only that user's pages")
    arguments = parser.parse_args()
    email, password = arguments.admin.split(":", 1)
    url = urllib.parse.urlparse(arguments.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=600)

    def call(method, path, body=None, headers=None):
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()

    def api(method, path, token=None, payload=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        response, body = call(method, path, json.dumps(payload) if payload is not None else None, headers)
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {body[:200]!r}")
        return json.loads(body) if body else {}

    # The user with many events, made through the API as the admin.
    user = arguments.user
    if user is None:
        token = api("POST", "/v1/sessions", payload={"email": email, "password": password})["access_token"]
        user = api("POST", "/v1/users", payload={
            "email": "busy.user@example.com", "password": "a long enough password", "first_name": "Busy",
            "last_name": "User"})["id"]
        start = time.monotonic()
        for index in range(arguments.events - 2):
            if index % 500 == 0 and index:  # access tokens last 15 minutes
                token = api("POST", "/v1/sessions", payload={"email": email, "password": password})["access_token"]
            api("PATCH", f"/v1/users/{user}", token, {"first_name": f"Busy{index}"})
        print(f"gave the user {user} {arguments.events} events in {time.monotonic() - start:.0f} s", flush=True)

    # A console session.
    response, body = call("GET", "/admin/login")
    cookie = response.getheader("Set-Cookie").split(";")[0]
    csrf = re.search(rb'name="csrf" value="([^"]+)"', body).group(1).decode()
    form = urllib.parse.urlencode({"csrf": csrf, "email": email, "password": password})
    response, _ = call("POST", "/admin/login", form,
                       {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    assert response.status == 303, response.status
    cookie = response.getheader("Set-Cookie").split(";")[0]

    def timed(path):
        begin = time.perf_counter()
        response, body = call("GET", path, headers={"Cookie": cookie})
        elapsed = (time.perf_counter() - begin) * 1000
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status}")
        return elapsed, body

    if not arguments.only_user:
        first, _ = timed("/admin/users?q=seed1")
        print(f"first search: {first:.0f} ms", flush=True)
    pages = [
        ("search by email prefix (seed12...)", "/admin/users?q=seed12"),
        ("search by exact email", "/admin/users?q=seed123456%40example.com"),
        ("every user, newest first", "/admin/users"),
        ("every user, by last login", "/admin/users?sort=last_login"),
        ("TARGETs, page 20", "/admin/users?role=TARGET&page=20"),
        (f"the user with {arguments.events} events (timeline)", f"/admin/users/{user}"),
        ("that user as of position 100", f"/admin/users/{user}?as_of=100"),
        ("that user's timeline, ProfileUpdated only", f"/admin/users/{user}?type=ProfileUpdated"),
        ("that user's timeline, a page from the middle", f"/admin/users/{user}?before={{before}}"),
        ("the log page", "/admin/log"),
    ]
    # A page from the middle of the timeline: before the position 5,000 events back from the newest.
    newest = int(re.search(rb'class="position">#(\d+)<', timed(f"/admin/users/{user}")[1]).group(1))
    pages = [(name, path.replace("{before}", str(max(1, newest - 5_000)))) for name, path in pages]
    if arguments.only_user:
        pages = [page for page in pages if page[1].startswith(f"/admin/users/{user}")]
    print(f"{'page':<48} {'median':>8} {'p95':>8} {'max':>8}  (ms, {arguments.runs} runs)")
    for name, path in pages:
        times = sorted(timed(path)[0] for _ in range(arguments.runs))
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"{name:<48} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}", flush=True)


if __name__ == "__main__":
    main()
