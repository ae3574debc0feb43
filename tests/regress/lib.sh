# tests/regress/lib.sh — helpers for black-box tests against build/bin.
#
# Source it from a test_*.sh script. Each check prints "ok - ..." or
# "not ok - ..." (counted by tools/testrun.sh); the script's exit status
# is non-zero when a check failed. Processes started with `spawn` are
# killed by PID when the script exits, whatever happens.
set -u
REGRESS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="${TEE_REGRESS_BIN:-$REGRESS_TOP/build/bin}" # TEE_REGRESS_BIN: a snapshot of build/bin (a rebuild mid-run swaps binaries)
REGRESS_NAME=$(basename "$0" .sh)
REGRESS_FAILED=0
REGRESS_PIDS=()
REGRESS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tee-$REGRESS_NAME.XXXXXX")

regress_cleanup() {
  local pid
  for pid in "${REGRESS_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${REGRESS_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
  done
  rm -rf "$REGRESS_TMP"
}
trap regress_cleanup EXIT

ok()     { printf 'ok - %s %s\n' "$REGRESS_NAME" "$1"; }
not_ok() { printf 'not ok - %s %s\n' "$REGRESS_NAME" "$1"; REGRESS_FAILED=1; }

# run CMD...: runs a command, keeps its stdout in $OUT, stderr in $ERR, status in $RC.
run() {
  OUT=$("$@" 2>"$REGRESS_TMP/stderr"); RC=$?
  ERR=$(cat "$REGRESS_TMP/stderr")
}

# check DESC CONDITION...: evaluates a test(1)-style condition.
check() {
  local desc=$1; shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# has TEXT NEEDLE: TEXT contains NEEDLE (fixed string).
has() { printf '%s' "$1" | grep -qF -- "$2"; }

# spawn CMD...: start a background process, remembered for cleanup; PID in $SPAWNED.
spawn() { "$@" & SPAWNED=$!; REGRESS_PIDS+=("$SPAWNED"); }

# pick_base: the first port of a block of 100 free loopback ports below the ephemeral range.
pick_base() { # a block of 100 free loopback ports below the ephemeral range
  local b p
  for _ in 1 2 3 4 5 6 7 8; do
    b=$((20000 + (RANDOM % 120) * 100))
    for p in $(seq "$b" $((b + 99))); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue 2; done
    break
  done
  echo "$b"
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 if it never did.
wait_for() {
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.1; done
}

# wait_until SECONDS CMD...: like wait_for, polling every 50 ms and keeping CMD's output.
wait_until() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 0.05
  done
}

# file_has FILE TEXT: FILE exists and contains TEXT (fixed string).
file_has() { grep -qF -- "$2" "$1" 2>/dev/null; }

# gone PID: the process has ended.
gone() { ! kill -0 "$1" 2>/dev/null; }

# free_ports N: N distinct free loopback TCP ports (bound together, then released).
free_ports() {
  python3 -c '
import socket, sys
ss = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# upstream_port NAME: waits (10 s) for "PORT n" from the upstream (tests/regress/proxy_upstream.py)
# started with its output in $REGRESS_TMP/NAME.out.
upstream_port() {
  local p
  for _ in $(seq 100); do
    p=$(awk '/^PORT /{print $2; exit}' "$REGRESS_TMP/$1.out" 2>/dev/null)
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.1
  done
  return 1
}

# hasnt TEXT NEEDLE: TEXT does not contain NEEDLE.
hasnt() { ! has "$@"; }

finish() { exit "$REGRESS_FAILED"; }
