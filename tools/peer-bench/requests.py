#!/usr/bin/env python3
"""A fixed number of requests to authd, for counting the instructions they cost.

    requests.py read PORT USERS_FILE COUNT CONNECTIONS
    requests.py rotate PORT TOKENS_FILE COUNT CONNECTIONS

`read`: GET /v1/users/{id}, USERS_FILE a line "ID ACCESS_TOKEN" a user, each user reading
themselves, in turn. `rotate`: POST /v1/sessions/refresh, TOKENS_FILE a refresh token a line;
each connection rotates its own share of the sessions, sending each token once, and the file
is rewritten with the tokens the answers gave (so a later run goes on from them). COUNT
requests in all over CONNECTIONS kept-alive connections at once. Prints "ok=N failed=N" and
exits non-zero when a request failed (the first failure on stderr).
"""

import http.client
import json
import sys
import threading


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("read", "rotate"):
        sys.exit(__doc__)
    kind, port, path, count, connections = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(
        sys.argv[5])
    with open(path) as file:
        lines = [line.split() for line in file if line.strip()]
    if len(lines) < connections:
        sys.exit("requests.py: fewer lines in %s than connections" % path)
    shares = [lines[i::connections] for i in range(connections)]
    counts = [count // connections + (1 if i < count % connections else 0) for i in range(connections)]
    results = {"ok": 0, "failed": 0}
    lock = threading.Lock()

    def work(share, requests):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for n in range(requests):
            entry = share[n % len(share)]
            if kind == "read":
                connection.request("GET", "/v1/users/" + entry[0], headers={"Authorization": "Bearer " + entry[1]})
            else:
                connection.request("POST", "/v1/sessions/refresh", body=json.dumps({"refresh_token": entry[0]}),
                                   headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            body = answer.read()
            with lock:
                if 200 <= answer.status < 300:
                    results["ok"] += 1
                    if kind == "rotate":
                        entry[0] = json.loads(body)["refresh_token"]
                else:
                    if results["failed"] == 0:
                        print("requests.py: %d %s" % (answer.status, body[:300]), file=sys.stderr)
                    results["failed"] += 1
        connection.close()

    threads = [threading.Thread(target=work, args=(shares[i], counts[i])) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if kind == "rotate":
        with open(path, "w") as file:
            file.writelines(entry[0] + "\n" for share in shares for entry in share)
    print("ok=%d failed=%d" % (results["ok"], results["failed"]))
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
