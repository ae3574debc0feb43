#!/usr/bin/env bash
# tools/lint.sh — static checks of the source tree, as "ok -"/"not ok -" lines.
#
#  - layering: a layer of src/ includes only itself and the layers below it
#    (docs/architecture.md; top to bottom: cli node api provider proxy cluster
#    raft store pki tls http json loop base);
#  - formatting: clang-format with the checked-in .clang-format;
#  - things src/ never does: sync-weakening LMDB flags, system(3), paths
#    under /tmp, abort() on an exhausted resource.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
failed=0
ok()     { printf 'ok - lint %s\n' "$1"; }
not_ok() { printf 'not ok - lint %s\n' "$1"; failed=1; }

layers=(cli node api provider proxy cluster raft store pki tls http json loop base)
rank() { local i; for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && echo "$i" && return; done; echo -1; }

bad=""
for f in src/*/*.[ch]; do
  [ -e "$f" ] || continue
  mine=$(basename "$(dirname "$f")")
  r_mine=$(rank "$mine")
  if [ "$r_mine" -lt 0 ]; then bad="$bad\n  $f: folder $mine is not a layer"; continue; fi
  while IFS= read -r inc; do
    dep=${inc%%/*}
    r_dep=$(rank "$dep")
    [ "$r_dep" -lt 0 ] && continue
    if [ "$r_dep" -lt "$r_mine" ]; then bad="$bad\n  $f includes $inc (upper layer $dep)"; fi
  done < <(sed -n 's/^#include "\([a-z]*\/[^"]*\)".*/\1/p' "$f")
done
if [ -z "$bad" ]; then ok "layering: includes only point down"; else not_ok "layering"; printf "$bad\n"; fi

files=$(ls src/*/*.[ch] tests/*/*.[ch] tools/*.c 2>/dev/null)
if out=$(clang-format --dry-run --Werror $files 2>&1); then
  ok "clang-format clean ($(echo "$files" | wc -l) files)"
else
  not_ok "clang-format (run 'make format')"
  printf '%s\n' "$out" | grep -E '^[^ ]+:[0-9]+:[0-9]+: error' | cut -d: -f1 | sort | uniq -c | head -20
fi

hits=$(grep -nE 'MDB_NOSYNC|MDB_NOMETASYNC|MDB_MAPASYNC|MDB_WRITEMAP' src/*/*.c 2>/dev/null | grep -v '^\s*\*' | grep -vE '/\*|//' || true)
if [ -z "$hits" ]; then ok "no sync-weakening LMDB flags in src/"; else not_ok "sync-weakening LMDB flags"; echo "$hits"; fi
hits=$(grep -nE '\bsystem\(|"/tmp/' src/*/*.c 2>/dev/null || true)
if [ -z "$hits" ]; then ok "no system() or /tmp paths in src/"; else not_ok "system() or /tmp paths in src/"; echo "$hits"; fi
exit $failed
