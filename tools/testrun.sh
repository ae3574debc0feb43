#!/usr/bin/env bash
# tools/testrun.sh — run test programs and add up their results.
#
#   tools/testrun.sh unit    BIN...     host unit-test binaries (tests/unit)
#   tools/testrun.sh sim     BIN...     host simulators (tests/sim), each runs its seeds
#   tools/testrun.sh replay  BIN...     fuzz harnesses replaying tests/fuzz/corpus/<name>
#   tools/testrun.sh regress SCRIPT...  black-box scripts against build/bin (tests/regress)
#   tools/testrun.sh all                all of them from their usual places, then tools/lint.sh
#
# Every program prints "ok - ..." or "not ok - ..." per case; a program that
# exits non-zero without reporting a failure (a crash, a sanitizer report)
# counts as one more failure. The last line is "N passed, N failed" and the
# exit status is non-zero when anything failed. Full output: build/test.log.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p build
log=build/test.log
: > "$log.part"
passed=0 failed=0

run_one() { # run_one LABEL CMD...
  local label=$1; shift
  local out rc p f
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out" >> "$log.part"
  p=$(printf '%s\n' "$out" | grep -c '^ok - ')
  f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    printf 'not ok - %s exited %d without reporting a failure\n' "$label" "$rc" | tee -a "$log.part"
  fi
  if [ "$f" -ne 0 ]; then
    printf '%s\n' "$out" | grep -E '^not ok - |^  |ERROR|runtime error' | head -40
  fi
  printf '%-8s %-40s %4d passed, %d failed\n' "$kind" "$label" "$p" "$f"
  passed=$((passed + p)); failed=$((failed + f))
}

run_kind() { # run_kind KIND ITEMS...
  kind=$1; shift
  local item name
  for item in "$@"; do
    [ -e "$item" ] || continue
    name=$(basename "$item")
    # Programs have no extension; skip make's .d/.o files beside them.
    case "$kind:$name" in unit:*.*|sim:*.*|replay:*.*) continue ;; esac
    case $kind in
      unit|sim) run_one "$name" "$item" ;;
      replay)  name=${name#replay_}
               run_one "$name" "$item" "tests/fuzz/corpus/$name" ;;
      regress) run_one "$name" timeout 600 bash "$item" ;;
    esac
  done
}

mode=$1; shift
case $mode in
  unit|sim|replay|regress) run_kind "$mode" "$@" ;;
  all)
    run_kind unit build/host/tests/test_*
    run_kind sim build/host/sim/sim_*
    run_kind replay build/host/fuzz/replay_*
    run_kind regress tests/regress/test_*.sh
    run_kind regress tests/image/test_*.sh
    kind=lint; run_one "tools/lint.sh" tools/lint.sh
    ;;
  *) echo "usage: $0 unit|sim|replay|regress|all [items]" >&2; exit 2 ;;
esac
mv "$log.part" "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
