# CPU time (user + system, in clock ticks) of processes, each with its reaped children: a
# child that exits during a measurement (a PostgreSQL backend) moves its time into its
# parent's. Sourced by tools/peer-bench/run.sh and tools/cluster/bench.sh.
ticks() { # PID...
    local pid total=0
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        # The fields after the command name: utime, stime, cutime, cstime are 12th to 15th.
        total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13 + $14 + $15}')))
    done
    echo "$total"
}
