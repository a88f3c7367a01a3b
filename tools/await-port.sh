# Sourced by the scripts that start authd (or another server that logs the same line) on port
# 0 and must learn the port it took: tools/api-check.sh, tools/cluster/start.sh and bench.sh,
# tools/peer-bench/authd.sh.

# Waits up to 60 s until the file FILE holds "listening on 127.0.0.1:PORT" (the process PID
# still alive) and prints PORT; else prints the file on standard error and fails.
await_port() { # NAME PID FILE
    local port=""
    for _ in $(seq 600); do
        port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p;T;q' "$3")"
        [ -n "$port" ] && break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] || {
        echo "${0##*/}: $1 did not start listening; its output:" >&2
        cat "$3" >&2
        exit 1
    }
    echo "$port"
}
