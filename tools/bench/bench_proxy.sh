#!/usr/bin/env bash
# tools/bench/bench_proxy.sh — the data plane against nginx and HAProxy on this machine.
#
#   tools/bench/bench_proxy.sh            (make bench)
#
# A benchmark, not a test: it prints figures and exits 0 unless something could not start.
# Everything runs on 127.0.0.1. The upstream is nginx serving one static file (BENCH_BODY
# bytes, default 100); wrk measures, with the same threads / connections / duration, each of:
#   upstream   wrk -> nginx (the file) directly
#   nginx      wrk -> nginx proxy (1 worker, HTTP/1.1 upstream keep-alive 1024) -> upstream
#   haproxy    wrk -> HAProxy (nbthread 1, http-reuse always) -> upstream
#   traefikee  wrk -> our proxy, standalone mode, 1 worker -> upstream
# and prints requests/s, p50/p99 latency, the proxy's CPU time per request (utime+stime from
# /proc, the figure that moves least on shared cores), its RSS after the run, and the
# ratios ours/nginx and ours/haproxy. Settings (environment):
#   BENCH_SECONDS (5)  BENCH_CONNS (50)  BENCH_THREADS (1)  BENCH_BODY (100)
#   BENCH_OPT (-O2: build our proxy at this level; "ship" links the -Os objects of `make`)
#   BENCH_TLS (1: also the three proxies terminating TLS; TLS 1.2 with
#              ECDHE-ECDSA-AES128-GCM-SHA256 for all three, since BearSSL has no TLS 1.3)
# Installs wrk, nginx and haproxy from Debian when missing (apt-get). Every process it starts
# is killed by PID at the end, whatever happens.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
DUR=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-50}
THREADS=${BENCH_THREADS:-1}
BODY=${BENCH_BODY:-100}
TLS=${BENCH_TLS:-1}
OPT=${BENCH_OPT:--O2}
work=$top/build/bench/proxy
mkdir -p "$work/www" "$work/tmp"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  return 0
}
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (apt-get)"
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { echo "bench: cannot install ${need[*]}"; exit 1; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

# --- our proxy: the standalone program, statically linked with musl --------------------------
bin=$top/build/bench/traefikee-proxy
if [ "$OPT" = ship ]; then
  make --no-print-directory all >/dev/null || { echo "bench: make failed"; exit 1; }
  objs=$(ls build/musl/{base,loop,http,json,tls,pki,proxy}/*.o)
  musl-gcc -static -s -Wl,--gc-sections -o "$bin" -std=c11 -D_GNU_SOURCE -Isrc -Ibuild/gen \
    tools/bench/bench_proxy_main.c $objs build/deps/lib/libbearssl.a build/deps/lib/liblmdb.a \
    -lpthread || exit 1
else
  make --no-print-directory deps build/gen/version.h >/dev/null || { echo "bench: make deps failed"; exit 1; }
  srcs=$(ls src/{base,loop,http,json,tls,pki,proxy}/*.c) # the proxy's layers only
  musl-gcc -static -s -Wl,--gc-sections "$OPT" -std=c11 -D_GNU_SOURCE -Isrc -Ibuild/gen \
    -isystem build/deps/include/bearssl -isystem build/deps/include/lmdb \
    -isystem build/deps/include/jsmn -isystem build/deps/kinc -ffunction-sections -fdata-sections \
    -o "$bin" tools/bench/bench_proxy_main.c $srcs build/deps/lib/libbearssl.a \
    build/deps/lib/liblmdb.a -lpthread || exit 1
fi

port() { # a free loopback port
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
}
wait_port() { # wait_port PORT: until something listens (5 s)
  local i
  for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

head -c "$BODY" /dev/zero | tr '\0' 'x' > "$work/www/f"
UP=$(port); NG=$(port); HP=$(port); TE=$(port); NGS=$(port); HPS=$(port); TES=$(port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  >/dev/null 2>&1 || { echo "bench: openssl failed"; exit 1; }
cat "$work/cert.pem" "$work/key.pem" > "$work/haproxy.pem"
pem_json() { awk 'BEGIN { ORS = "" } { print $0 "\\n" }' "$1"; }
CIPH=ECDHE-ECDSA-AES128-GCM-SHA256

cat > "$work/upstream.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $work/upstream.pid;
error_log $work/upstream.err warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 120s;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$UP; location / { root $work/www; } }
}
CONF
cat > "$work/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 120s;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  upstream up { server 127.0.0.1:$UP; keepalive 1024; }
  server { listen 127.0.0.1:$NG;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:$NGS ssl; ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2; ssl_ciphers $CIPH;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HP
  default_backend be
frontend fes
  bind 127.0.0.1:$HPS ssl crt $work/haproxy.pem ssl-max-ver TLSv1.2 ciphers $CIPH
  default_backend be
backend be
  server s1 127.0.0.1:$UP
CONF
cat > "$work/routing.json" <<CONF
{"version":1,"revision":1,"defaultEntryPoints":["http","https"],
 "entryPoints":{"http":{"address":"127.0.0.1:$TE"},
   "https":{"address":"127.0.0.1:$TES","tls":{"certificates":[
     {"certFile":"$(pem_json "$work/cert.pem")","keyFile":"$(pem_json "$work/key.pem")"}]}}},
 "frontends":{"f":{"backend":"b","routes":{"r":{"rule":"PathPrefix:/"}}}},
 "backends":{"b":{"servers":{"s":{"url":"http://127.0.0.1:$UP"}}}}}
CONF

"$NGINX" -c "$work/upstream.conf" -p "$work" 2>>"$work/upstream.err" & pids+=($!); up_pid=$!
"$NGINX" -c "$work/nginx.conf" -p "$work" 2>>"$work/nginx.err" & pids+=($!); ng_pid=$!
"$HAPROXY" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 & pids+=($!); hp_pid=$!
"$bin" --routing="$work/routing.json" --loglevel=warn >"$work/traefikee.log" 2>&1 & pids+=($!); te_pid=$!
for p in $UP $NG $HP $TE $NGS $HPS $TES; do wait_port "$p" || { echo "bench: nothing listens on $p"; cat "$work"/*.err "$work"/*.log 2>/dev/null | tail -20; exit 1; }; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
declare -A RPS P50 P99 US RSS
run() { # run NAME PORT PID [SCHEME]
  local name=$1 p=$2 pid=$3 scheme=${4:-http} out t0 t1
  wrk -t1 -c"$CONNS" -d1s "$scheme://127.0.0.1:$p/f" >/dev/null 2>&1 # warm-up
  t0=$(cpu_ticks "$pid")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency "$scheme://127.0.0.1:$p/f" 2>&1)
  t1=$(cpu_ticks "$pid")
  RPS[$name]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  P50[$name]=$(echo "$out" | awk '$1=="50%" {print $2}')
  P99[$name]=$(echo "$out" | awk '$1=="99%" {print $2}')
  local reqs; reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  if [ -n "$reqs" ] && [ "$reqs" -gt 0 ] && [ "$pid" != 0 ]; then
    US[$name]=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  else
    US[$name]=-
  fi
  RSS[$name]=$( [ "$pid" != 0 ] && rss_kb "$pid" || echo -)
  if echo "$out" | grep -q "Non-2xx\|Socket errors"; then
    echo "$name: $(echo "$out" | grep -E "Non-2xx|Socket errors")"
  fi
}

echo "bench: ${DUR}s per case, wrk -t$THREADS -c$CONNS, ${BODY}-byte body, loopback, $(nproc) CPUs"
run upstream "$UP" 0
run nginx "$NG" "$ng_pid"
run haproxy "$HP" "$hp_pid"
run traefikee "$TE" "$te_pid"
cases="upstream nginx haproxy traefikee"
if [ "$TLS" = 1 ]; then
  run nginx-tls "$NGS" "$ng_pid" https
  run haproxy-tls "$HPS" "$hp_pid" https
  run traefikee-tls "$TES" "$te_pid" https
  cases="$cases nginx-tls haproxy-tls traefikee-tls"
fi
printf '%-14s %12s %10s %10s %10s %10s\n' case "req/s" p50 p99 "us/req" "RSS kB"
for n in $cases; do
  printf '%-14s %12s %10s %10s %10s %10s\n' "$n" "${RPS[$n]:-?}" "${P50[$n]:-?}" "${P99[$n]:-?}" "${US[$n]:--}" "${RSS[$n]:--}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "?" }'; }
for sfx in "" -tls; do
  [ -z "$sfx" ] || [ "$TLS" = 1 ] || continue
  t=traefikee$sfx; n=nginx$sfx; h=haproxy$sfx
  echo "ratio req/s  $t/$n $(ratio "${RPS[$t]:-0}" "${RPS[$n]:-0}")  $t/$h $(ratio "${RPS[$t]:-0}" "${RPS[$h]:-0}")"
  echo "ratio us/req $t/$n $(ratio "${US[$t]:-0}" "${US[$n]:-0}")  $t/$h $(ratio "${US[$t]:-0}" "${US[$h]:-0}")  (lower is better)"
done
exit 0
