#!/usr/bin/env bash
# tools/bench/bench_ir.sh — user-space instructions per proxied request, ours against nginx and
# HAProxy, counted by valgrind's callgrind: exact and independent of what else the machine does
# (the wall-clock bench, bench_proxy.sh, shares 2 cores between wrk, the upstream and the proxy,
# so its CPU figures move by ±20 % from run to run; these do not).
#
#   make bench-ir
#   BENCH_IR_CASES='ka close' BENCH_IR_SECONDS=5 tools/bench/bench_ir.sh
#
# Each proxy runs alone under `valgrind --tool=callgrind`, one worker, in front of the same
# nginx upstream serving 100 bytes (as bench_proxy.sh sets them up: nginx with an upstream
# keep-alive pool, HAProxy with http-reuse always, ours from a routing document). After a
# warm-up, the counters are zeroed (callgrind_control -z), wrk runs BENCH_IR_SECONDS with 50
# connections, the counters are dumped, and the total is divided by wrk's request count.
# Cases: ka (keep-alive), close (a new connection per request). Kernel time is not counted:
# on this VM it is about 80 % of the proxy's CPU per request (docs/testing.md, Profiling).
# Ours is the shipped binary as `make` builds it. A benchmark: it prints figures and exits 0
# unless something could not start. Every process it starts is killed by PID.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
SECS=${BENCH_IR_SECONDS:-5}
CASES=${BENCH_IR_CASES:-ka close}
rm -rf "$top/build/bench/ir"
. "$top/tools/bench/bench_lib.sh"
bench_setup "$top/build/bench/ir"
bench_need wrk nginx haproxy valgrind
bin=$top/build/bin/traefikee
[ -x "$bin" ] || { echo "bench-ir: build first (make)"; exit 1; }

BENCH_WAIT_LONG=1 # a proxy under valgrind takes seconds to listen
port; UP=$P; port; PX=$P
head -c 100 /dev/zero | tr '\0' a >"$work/www/f100"

upstream_conf "$work/upstream.conf" "$UP"
cat >"$work/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 120s;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  upstream up { server 127.0.0.1:$UP; keepalive 1024; }
  server { listen 127.0.0.1:$PX backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  maxconn 4000
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$PX
  default_backend be
backend be
  server s1 127.0.0.1:$UP
CONF
cat >"$work/routing.json" <<CONF
{"version":1,"revision":1,"entryPoints":{"http":{"address":"127.0.0.1:$PX"}},
 "frontends":{"f":{"backend":"b","routes":{"r":{"rule":"PathPrefix:/"}}}},
 "backends":{"b":{"servers":{"s":{"url":"http://127.0.0.1:$UP"}}}}}
CONF

"$NGINX" -c "$work/upstream.conf" -p "$work" 2>>"$work/upstream.err" &
pids+=($!)
wait_port "$UP" || { echo "bench-ir: the upstream does not start"; exit 1; }

# measure NAME CASE: Ir per request of proxy NAME under callgrind, printed; "-" on failure.
measure() {
  local name=$1 kase=$2 out="$work/cg.$1.$2" pid hdr=() n total
  [ "$kase" = close ] && hdr=(-H "Connection: close")
  case $name in
  ours) valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$out" \
      "$bin" start-data-node --standalone="$work/routing.json" --log.level=warn \
      >>"$work/$name.log" 2>&1 & ;;
  nginx) valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$out" \
      "$NGINX" -c "$work/nginx.conf" -p "$work" >>"$work/$name.log" 2>&1 & ;;
  haproxy) valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$out" \
      "$HAPROXY" -f "$work/haproxy.cfg" -db >>"$work/$name.log" 2>&1 & ;;
  esac
  pid=$!
  pids+=("$pid")
  if ! wait_port "$PX"; then echo "-"; kill "$pid" 2>/dev/null; return; fi
  wrk -t1 -c50 -d2s "${hdr[@]}" "http://127.0.0.1:$PX/f100" >/dev/null 2>&1
  callgrind_control -z "$pid" >/dev/null 2>&1
  n=$(wrk -t1 -c50 -d"${SECS}s" "${hdr[@]}" "http://127.0.0.1:$PX/f100" 2>/dev/null |
    awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 0.5
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  # The dump after the zeroing is the last file written for this pid (NAME.PID.N).
  local f
  f=$(ls -t "$out".* 2>/dev/null | head -n 1)
  total=$( [ -n "$f" ] && awk '/^(summary|totals):/ {print $2; exit}' "$f")
  if [ -z "${n:-}" ] || [ -z "${total:-}" ] || [ "$n" -eq 0 ]; then echo "-"; return; fi
  awk -v t="$total" -v n="$n" 'BEGIN { printf "%.0f %d\n", t / n, n }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
echo "bench-ir: user-space instructions per request (callgrind), 100-byte body, wrk -c50, ${SECS}s"
printf '%-8s %12s %12s %12s %8s %8s\n' case ours nginx haproxy o/ng o/hp
for kase in $CASES; do
  declare -A ir=() reqs=()
  for p in ours nginx haproxy; do
    read -r v r <<<"$(measure "$p" "$kase")"
    ir[$p]=$v
    reqs[$p]=${r:-0}
  done
  printf '%-8s %12s %12s %12s %8s %8s   (requests measured: %s / %s / %s)\n' "$kase" \
    "${ir[ours]}" "${ir[nginx]}" "${ir[haproxy]}" "$(ratio "${ir[ours]}" "${ir[nginx]}")" \
    "$(ratio "${ir[ours]}" "${ir[haproxy]}")" "${reqs[ours]}" "${reqs[nginx]}" "${reqs[haproxy]}"
done
