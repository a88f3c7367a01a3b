#!/usr/bin/env python3
"""Summarises a run of tools/peer-bench/run.sh and draws its chart.

    report.py RESULTS_DIRECTORY CHART.svg      (an empty CHART draws none)

RESULTS_DIRECTORY holds one file a step (a line a round of `key=value` words: `round`,
`ok_per_s`, `p50_ms`, `p99_ms`, `ok`, `cpu_s` (the server's CPU), `client_s` (the client's), `idle_pct`
(the machine's idle share), `disk_kib` (what the work directory's disk took), ...) and `run` (a `key=value` a line: the machine, the date, the
load, the clients' connections and users, `pinned` when the servers and the clients were pinned
to separate CPUs, and `paced` when the wrk read steps waited before each request: their ratios
are then given without targets, and not against pgbench's unpaced reads).
Prints each figure as mean (min..max) over the rounds, the ratios (the mean of each round's
ratio, and their min..max: a round's sides ran minutes apart at most, so the host's noise
falls on both), and writes the chart as SVG, drawn here with no package beyond Python's own.
"""

import html
import os
import sys

LABELS = {
    "authd-read": "authd GET /v1/users/{id}",
    "base-read": "authd (base build) GET /v1/users/{id}",
    "hummingbird": "bare Hummingbird 2 route, fixed body",
    "nio": "bare SwiftNIO HTTP/1 handler, fixed body",
    "nginx": "nginx return 200, fixed body",
    "pg-read": "PostgreSQL read by key (read.sql)",
    "authd-rotate": "authd durable refresh rotation",
    "base-rotate": "authd (base build) durable refresh rotation",
    "nio-rotate": "bare SwiftNIO handler, a rotation's answer",
    "pg-rotate": "PostgreSQL CRUD UPDATE (rotate.sql)",
    "pg-es-rotate": "event store on PostgreSQL (es_rotate.sql)",
    "kdf": "Argon2id ceiling, one thread a core",
    "authd-login": "authd login (POST /v1/sessions)",
    "authd-register": "authd registration (POST /v1/users)",
    "base-login": "authd (base build) login",
    "base-register": "authd (base build) registration",
}
READS = ["nginx", "nio", "hummingbird", "authd-read", "base-read", "pg-read"]
ROTATIONS = ["authd-rotate", "base-rotate", "nio-rotate", "pg-rotate", "pg-es-rotate"]
PASSWORDS = ["kdf", "authd-login", "base-login", "authd-register", "base-register"]
# (numerator, denominator, what, target)
RATIOS = [
    ("authd-read", "hummingbird", "authd reads / bare Hummingbird", ">= 0.95"),
    ("authd-read", "nio", "authd reads / bare NIO", ""),
    ("authd-read", "nginx", "authd reads / nginx", ""),
    ("authd-read", "pg-read", "authd reads / PostgreSQL read.sql", ""),
    ("authd-rotate", "pg-rotate", "authd rotations / PostgreSQL rotate.sql", ">= 1.5"),
    ("authd-rotate", "pg-es-rotate", "authd rotations / PostgreSQL es_rotate.sql", ">= 3"),
    ("authd-rotate", "nio-rotate", "authd rotations / bare NIO, same exchange", ""),
    ("authd-read", "base-read", "authd reads / base build", ""),
    ("authd-rotate", "base-rotate", "authd rotations / base build", ""),
    ("authd-login", "kdf", "authd logins / the KDF's ceiling", "at the ceiling"),
    ("authd-register", "kdf", "authd registrations / the KDF's ceiling", ""),
    ("base-login", "kdf", "base build logins / the KDF's ceiling", ""),
    ("authd-login", "base-login", "authd logins / base build", ""),
    ("authd-register", "base-register", "authd registrations / base build", ""),
]


def parse(line):
    return dict(item.split("=", 1) for item in line.split() if "=" in item)


def load(directory):
    steps = {}
    for name in sorted(os.listdir(directory)):
        if name == "run":
            continue
        with open(os.path.join(directory, name)) as file:
            steps[name] = [parse(line) for line in file if line.strip()]
    run = {}
    with open(os.path.join(directory, "run")) as file:
        for line in file:
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                run[key] = value
    return steps, run


def values(rounds, key):
    return [float(r[key]) for r in rounds if key in r and r[key] not in ("", "nan")]


def spread(numbers, digits=0):
    if not numbers:
        return "-"
    mean = sum(numbers) / len(numbers)
    form = "{:,.%df}" % digits
    return "%s (%s..%s)" % (form.format(mean), form.format(min(numbers)), form.format(max(numbers)))


def cpu_per_op(rounds):
    """Microseconds of the server's CPU per successful operation, one a round."""
    return [float(r["cpu_s"]) * 1e6 / float(r["ok"]) for r in rounds if float(r.get("ok", 0)) > 0]


def client_cpu_per_op(rounds):
    """Microseconds of the client's CPU (wrk, pgbench) per successful operation, one a round."""
    return [float(r["client_s"]) * 1e6 / float(r["ok"]) for r in rounds
            if "client_s" in r and float(r.get("ok", 0)) > 0]


def disk_per_op(rounds):
    """KiB the disk took per successful operation, one a round (rounds that measured it)."""
    return [float(r["disk_kib"]) / float(r["ok"]) for r in rounds if "disk_kib" in r and float(r.get("ok", 0)) > 0]


def round_ratios(steps, top, bottom):
    by_round = {r["round"]: float(r["ok_per_s"]) for r in steps[bottom]}
    return [float(r["ok_per_s"]) / by_round[r["round"]] for r in steps[top]
            if r["round"] in by_round and by_round[r["round"]] > 0]


def summary(steps, run):
    print("== summary: mean (min..max) over %s rounds of %s s; %s; %s; load average %s before, %s after"
          % (run.get("rounds"), run.get("seconds"), run.get("date"), run.get("machine"), run.get("load_before"),
             run.get("load_after")))
    if run.get("pinned"):
        print("== pinned: %s (the issue's targets are measured unpinned)" % run["pinned"])
    if run.get("paced"):
        print("== reads paced: %s (their rates are the pace's, not the servers' limits: compare their latency)"
              % run["paced"])
    print("%-46s %-30s %-22s %-24s %-24s %-24s %s" % ("step", "per second", "p50 ms", "p99 ms", "server CPU µs per op",
                                                      "client CPU µs per op", "machine idle %"))
    for name in READS + ROTATIONS + PASSWORDS:
        if name not in steps:
            continue
        rounds = steps[name]
        notes = []
        failures = sum(int(r.get("non2xx", 0)) + int(r.get("socket_errors", 0)) for r in rounds)
        if failures:
            notes.append("%d failed requests" % failures)
        aborted = sum(int(r.get("aborted_clients", 0)) for r in rounds)
        if aborted:
            notes.append("%d aborted clients" % aborted)
        print("%-46s %-30s %-22s %-24s %-24s %-24s %s%s" % (LABELS[name], spread(values(rounds, "ok_per_s")),
                                                            spread(values(rounds, "p50_ms"), 2),
                                                            spread(values(rounds, "p99_ms"), 2),
                                                            spread(cpu_per_op(rounds), 1),
                                                            spread(client_cpu_per_op(rounds), 1),
                                                            spread(values(rounds, "idle_pct"), 1),
                                                            ("  [" + ", ".join(notes) + "]") if notes else ""))
    print("ratios (mean of the rounds' ratios (min..max)):")
    # The targets are set for servers and clients on shared cores.
    target_label = "   target (unpinned) " if run.get("pinned") else "   target "
    paced = bool(run.get("paced"))
    for top, bottom, what, target in RATIOS:
        if paced and top.endswith("-read"):
            if bottom == "pg-read":
                continue
            target = ""
        if top in steps and bottom in steps:
            ratios = round_ratios(steps, top, bottom)
            print("  %-46s %s%s" % (what, spread(ratios, 2), (target_label + target) if target else ""))
    if "authd-rotate" in steps:
        rounds = steps["authd-rotate"]
        share = [float(r["cpu_s"]) / float(run.get("seconds", 1)) for r in rounds]
        print("  authd CPU during rotations: %s of one core; %s µs per rotation"
              % (spread([s * 100 for s in share]) + " %", spread(cpu_per_op(rounds), 1)))
    # Server and client share the cores: what one operation takes of the machine bounds the
    # rate the cores allow, rate <= cores * 1e6 / (server + client µs) with no idle left.
    together = [(name, [s + c for s, c in zip(cpu_per_op(steps[name]), client_cpu_per_op(steps[name]))])
                for name in ROTATIONS if name in steps]
    together = [(name, both) for name, both in together if both]
    if together:
        print("server + client CPU a rotation (µs):")
        for name, both in together:
            print("  %-46s %s" % (LABELS[name], spread(both, 1)))
    written = [(name, disk_per_op(steps[name])) for name in READS + ROTATIONS + PASSWORDS if name in steps]
    written = [(name, kib) for name, kib in written if kib]
    if written:
        print("disk written an operation (KiB; the whole disk's, the work directory's):")
        for name, kib in written:
            print("  %-46s %s" % (LABELS[name], spread(kib, 1)))


def chart(steps, run, path):
    """Panels of horizontal bars (reads, rotations, password work): the mean with a min..max whisker."""
    reads = "wrk -t2 -c%s, %s users" % (run.get("read_connections", "64"), run.get("users", "128"))
    if run.get("paced"):
        reads += ", paced"
    panels = [("Reads by key, per second (%s; pgbench -c64)" % reads, [n for n in READS if n in steps]),
              ("Durable rotations, per second (wrk -t2 -c64; pgbench -c64)", [n for n in ROTATIONS if n in steps]),
              ("Password work, per second (wrk -t2 -c%s; Argon2id at authd's defaults)"
               % run.get("password_connections", "16"), [n for n in PASSWORDS if n in steps])]
    width, left, right, bar, gap = 900, 330, 40, 22, 10
    rows = sum(len(names) for _, names in panels)
    height = 70 + len(panels) * 60 + rows * (bar + gap) + 30
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="13">' % (width, height, width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="22" font-size="16" font-weight="bold">Authlog beside its peers '
           '(tools/peer-bench/run.sh)</text>',
           '<text x="10" y="42" fill="#444">%s; %s rounds of %s s; load average %s before, %s after; '
           'bars: mean, whiskers: min..max</text>' % (html.escape(run.get("date", "")), run.get("rounds"),
                                                     run.get("seconds"), run.get("load_before"), run.get("load_after")),
           '<text x="10" y="58" fill="#444">%s, %s%s</text>'
           % (html.escape(run.get("machine", "")),
              html.escape("pinned: " + run["pinned"]) if run.get("pinned") else "shared with the load generators",
              html.escape("; reads paced: " + run["paced"]) if run.get("paced") else "")]
    y = 70
    for title, names in panels:
        if not names:
            continue
        y += 30
        out.append('<text x="10" y="%d" font-weight="bold">%s</text>' % (y, html.escape(title)))
        y += 12
        top = max(max(values(steps[n], "ok_per_s")) for n in names) * 1.15
        scale = (width - left - right) / top
        for name in names:
            numbers = values(steps[name], "ok_per_s")
            mean = sum(numbers) / len(numbers)
            colour = "#d9480f" if name.startswith("authd") else "#868e96" if name.startswith("base") else "#1c7ed6"
            out.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                       % (left - 8, y + bar * 0.7, html.escape(LABELS[name])))
            out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                       % (left, y, mean * scale, bar, colour))
            low, high = left + min(numbers) * scale, left + max(numbers) * scale
            middle = y + bar / 2
            out.append('<path d="M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f" stroke="black" fill="none"/>'
                       % (low, middle, high, low, middle - 6, middle + 6, high, middle - 6, middle + 6))
            out.append('<text x="%.1f" y="%d">%s</text>' % (high + 6, y + bar * 0.7, "{:,.0f}".format(mean)))
            y += bar + gap
    out.append("</svg>")
    with open(path, "w") as file:
        file.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RESULTS_DIRECTORY CHART.svg")
    steps, run = load(sys.argv[1])
    summary(steps, run)
    if not sys.argv[2]:
        print("chart: none (CHART empty; a paced run draws one only when CHART names it)")
        return
    chart(steps, run, sys.argv[2])
    print("chart: %s" % sys.argv[2])


if __name__ == "__main__":
    main()
