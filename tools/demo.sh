#!/usr/bin/env bash
# tools/demo.sh — README's main job.
#
# Today: shows the freshly built static programs (usage, version, size).
# The local loopback cluster (bootstrap, 3 control nodes, 2 data nodes,
# a built-in configuration serving traffic) replaces this once the cluster
# layer lands; see docs/roadmap.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B="$top/build/bin"
echo "== traefikee (static, $(stat -c %s "$B/traefikee") bytes): $(file -b "$B/traefikee" | cut -d, -f1-5)"
"$B/traefikee"
echo
echo "== traefikee version"
"$B/traefikee" version
echo
echo "== traefikeectl"
"$B/traefikeectl"
echo
echo "The cluster engines (consensus, trust, data plane, providers) are being built;"
echo "this demo will start a whole local cluster on loopback once they land (docs/roadmap.md)."
