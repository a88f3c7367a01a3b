# Functions the peer benchmark's scripts share (run.sh, profile.sh, commit-probe.sh and
# syscalls.sh source this file): start and stop authd on a free port and give it users with
# sessions. They expect `work` (a directory of the run's own), `root` (the repository), `users`
# (how many read) and `sessions` (how many users in all, each signed in once), and a umask of
# 077: the files made here hold live tokens.

# await_port NAME PID FILE: the port a server started on port 0 logged.
# shellcheck source=tools/await-port.sh
. "$root/tools/await-port.sh"

# A key-encryption key for the authd servers, 0600 from its first byte.
make_kek() {
    (
        umask 077
        python3 -c 'import os; print(os.urandom(32).hex())' >"$work/kek"
    )
}
# Stops authd NAME (SIGTERM, then SIGKILL after 60 s) and waits for it.
stop() { # NAME
    local pid
    [ -f "$work/$1.pid" ] || return 0
    pid="$(cat "$work/$1.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$work/$1.pid"
}
# Every limit out of the benchmark's way; tokens that outlive the run.
limits=(--rate-limit 100000000 --registration-rate-limit 100000000 --login-failures-per-address 100000000
    --login-failures-per-account 100000000 --max-connections-per-address 100000 --access-token-ttl 86400)
# Starts authd NAME (BINARY, then any prefix: a profiler) on a data directory of its own and a
# free port; its pid in NAME.pid, its output in NAME.log; prints the port once it listens.
start_authd() { # NAME BINARY [COMMAND PREFIX...]
    local name="$1" binary="$2"
    shift 2
    mkdir -p -m 700 "$work/$name"
    AUTHLOG_KEK_FILE="$work/kek" "$@" "$binary" --data "$work/$name/data" --host 127.0.0.1 --port 0 "${limits[@]}" \
        >"$work/$name.log" 2>&1 </dev/null &
    echo $! >"$work/$name.pid"
    await_port "$name" $! "$work/$name.log"
}

field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
password="benchmark passphrase"
# POSTs JSON BODY to PATH on PORT and prints the answer's body; a busy server (503: both
# password-hashing threads taken) is asked again, up to 20 times; any other failure stops.
post() { # PORT PATH BODY
    local answer status
    for _ in $(seq 20); do
        answer="$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$1$2" -H 'content-type: application/json' -d "$3")"
        status="${answer##*$'\n'}"
        case "$status" in
            2??) echo "${answer%$'\n'*}" && return 0 ;;
            503) sleep 1 ;;
            *) break ;;
        esac
    done
    echo "peer-bench: POST $2 on port $1 answered: $answer" >&2
    return 1
}
# Registers user N on authd NAME and signs them in once.
set_up_user() { # NAME PORT N
    local id answer
    id="$(post "$2" /v1/users \
        "{\"email\":\"bench$3@example.com\",\"password\":\"$password\",\"first_name\":\"B$3\",\"last_name\":\"M\"}" |
        field id)"
    answer="$(post "$2" /v1/sessions "{\"email\":\"bench$3@example.com\",\"password\":\"$password\"}")"
    (($3 > users)) || echo "$id $(field access_token <<<"$answer")" >"$work/$1-setup/$3.user"
    field refresh_token <<<"$answer" >"$work/$1-setup/$3.token"
}
# Registers and signs in SESSIONS users on authd NAME (port PORT): NAME.users holds "ID
# ACCESS_TOKEN" for the first USERS of them (the reads), NAME.tokens every refresh token (a
# user has one session: one login gives both).
set_up_users() { # NAME PORT
    local n first jobs job
    mkdir -m 700 "$work/$1-setup"
    # Four users at a time: the password hashing is what takes the time.
    for first in $(seq 1 4 "$sessions"); do
        jobs=()
        for n in $(seq "$first" $((first + 3))); do
            ((n <= sessions)) || break
            set_up_user "$1" "$2" "$n" &
            jobs+=($!)
        done
        for job in "${jobs[@]}"; do wait "$job"; done
    done
    for n in $(seq "$users"); do cat "$work/$1-setup/$n.user"; done >"$work/$1.users"
    for n in $(seq "$sessions"); do cat "$work/$1-setup/$n.token"; done >"$work/$1.tokens"
    [ "$(grep -c '^[^ ]\+ [^ ]\+$' "$work/$1.users")" -eq "$users" ] &&
        [ "$(grep -c . "$work/$1.tokens")" -eq "$sessions" ] || {
        echo "peer-bench: setting up the users of $1 failed" >&2
        exit 1
    }
}
