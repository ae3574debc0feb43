# shellcheck shell=bash
# tests/image/lib.sh — helpers for the VM image tests (sourced by bash).
#
# Each check prints "ok - …" or "not ok - …" (counted by tools/testrun.sh).
# VMs started with img_boot are killed by PID when the script exits, and the
# scratch folder is removed. Networks: only qemu datagram sockets on unix
# paths in the scratch folder (no IP on the host at all), or namespaces the
# test makes itself.
# shellcheck disable=SC2034 # IMG_WAITED, IMG_PID, IMG_T0 are for the scripts that source this
set -u
set -o pipefail
IMG_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMG_NAME=$(basename "$0" .sh)
IMG_FAILED=0
IMG_PIDS=()
IMG_NETNS=()
IMG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tee-$IMG_NAME.XXXXXX")

img_cleanup() {
  local pid ns
  for pid in "${IMG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${IMG_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for ns in "${IMG_NETNS[@]}"; do ip netns delete "$ns" 2>/dev/null; done
  if [ -n "${IMG_KEEP:-}" ]; then
    echo "# scratch folder kept: $IMG_TMP"
  else
    rm -rf "$IMG_TMP"
  fi
}
trap img_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

ok()     { printf 'ok - %s %s\n' "$IMG_NAME" "$1"; }
not_ok() { printf 'not ok - %s %s\n' "$IMG_NAME" "$1"; IMG_FAILED=1; }
check()  { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
note()   { printf '# %s\n' "$*"; }
finish() { exit "$IMG_FAILED"; }

# img_build ROLE...: build the images (make), unless TEE_IMAGE_NOBUILD=1
# (make test-images builds them first).
img_build() {
  local r targets=()
  [ -n "${TEE_IMAGE_NOBUILD:-}" ] && return 0
  for r in "$@"; do targets+=("image-$r"); done
  make -C "$IMG_TOP" --no-print-directory -s "${targets[@]}" > "$IMG_TMP/build.log" 2>&1
}

# img_netns NAME: make a network namespace (removed at exit) with lo up.
img_netns() {
  ip netns add "$1" 2>/dev/null || return 1
  IMG_NETNS+=("$1")
  ip -n "$1" link set lo up
}

# img_now: seconds since the epoch, with milliseconds.
img_now() { date +%s.%3N; }

# img_boot NAME ROLE ARGS...: boot a VM in the background with its console on
# $IMG_TMP/NAME.sock, everything it prints in $IMG_TMP/NAME.log; sets
# IMG_PID (qemu's PID) and IMG_T0 (when qemu was started).
img_boot() {
  local name=$1 role=$2; shift 2
  rm -f "$IMG_TMP/$name.sock" "$IMG_TMP/$name.log"
  : > "$IMG_TMP/$name.log"
  IMG_T0=$(img_now)
  "$IMG_TOP/tools/bootvm.sh" --name "$name" --console "socket:$IMG_TMP/$name.sock" \
    --log "$IMG_TMP/$name.log" "$@" "$role" > "$IMG_TMP/$name.qemu.out" 2>&1 &
  IMG_PID=$!
  IMG_PIDS+=("$IMG_PID")
}

# img_wait NAME REGEX SECONDS: wait until the console log of NAME has a line
# matching REGEX (grep -E); sets IMG_WAITED to the seconds since IMG_T0.
img_wait() {
  local log=$IMG_TMP/$1.log rx=$2 end
  end=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -le "$end" ]; do
    if grep -aqE -- "$rx" "$log" 2>/dev/null; then
      IMG_WAITED=$(awk -v a="$IMG_T0" -v b="$(img_now)" 'BEGIN { printf "%.2f", b - a }')
      return 0
    fi
    sleep 0.05
  done
  IMG_WAITED=
  return 1
}

# img_has NAME REGEX: the console log of NAME has a line matching REGEX.
img_has() { grep -aqE -- "$2" "$IMG_TMP/$1.log"; }

# img_console NAME STEP...: drive NAME's console (tests/image/console.py);
# the transcript goes to $IMG_TMP/NAME.transcript.
img_console() {
  local name=$1; shift
  python3 "$IMG_TOP/tests/image/console.py" "$IMG_TMP/$name.sock" --timeout "${IMG_CONSOLE_TIMEOUT:-30}" \
    --transcript "$IMG_TMP/$name.transcript" "$@"
}

# img_exited PID SECONDS: wait for qemu to exit by itself.
img_exited() {
  local end=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -le "$end" ]; do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}
