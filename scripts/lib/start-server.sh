# Sourced by the scripts that start a benchmark server themselves (turns, callgrind).
#
# start_server COMMAND...: runs COMMAND (a server under bench/, with whatever runs it first:
# taskset, valgrind) with `--addr 127.0.0.1:0`, so that the kernel picks a free port, and waits
# for the `listening on ws://ADDR` line every such server prints once bound, as `compare` does
# (bench/src/process.rs). Sets `server_pid` (the server's own: taskset and valgrind run it in
# their process) and `server_addr`. Fails, showing what the server printed, if it exits first.
start_server() {
    local log
    log=$(mktemp)
    "$@" --addr 127.0.0.1:0 >"$log" 2>&1 &
    server_pid=$!
    server_addr=
    while [[ -z $server_addr ]]; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "start_server: $* exited before listening:" >&2
            cat "$log" >&2
            rm -f "$log"
            return 1
        fi
        sleep 0.05
        server_addr=$(grep -o -m 1 'listening on ws://[0-9.:]*' "$log" | cut -d/ -f3 || true)
    done
    rm -f "$log"
}
