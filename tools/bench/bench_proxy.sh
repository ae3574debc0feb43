#!/usr/bin/env bash
# tools/bench/bench_proxy.sh — the data-plane matrix: our data node against nginx and HAProxy.
#
#   make bench                                     (the whole matrix, about 15 min)
#   BENCH_QUICK=1 tools/bench/bench_proxy.sh       (quick: 2 s runs, a few cases, ~1 min)
#   BENCH_CASES='plain-ka-100-c50 tls-ka-*' BENCH_SECONDS=3 tools/bench/bench_proxy.sh
#
# A benchmark, not a test: it prints figures and exits 0 unless something could not start.
# Everything runs on 127.0.0.1, one worker per proxy, all behind the same upstream (nginx,
# 1 worker, serving /f100 = 100 bytes and /f16k = 16 KiB, keep-alive):
#   ours     build/bin/traefikee start-data-node --standalone=routing.json  (as the product runs)
#   nginx    1 worker, proxy_http_version 1.1, upstream keepalive 1024
#   haproxy  nbthread 1, mode http, http-reuse always
# TLS: the same self-signed ECDSA P-256 certificate for the three; TLS 1.2 with
# ECDHE-ECDSA-AES128-GCM-SHA256 (BearSSL has no TLS 1.3), session resumption as each server does
# by default.
#
# Cases are named MODE-CONN-BODY-cN: MODE plain|tls, CONN ka (keep-alive) | close (wrk -H
# "Connection: close": a new connection per request), BODY 100|16k, N 10|50|1000 connections
# (wrk -t1). Each case runs BENCH_ROUNDS rounds of the three proxies interleaved (ours nginx
# haproxy ours nginx haproxy...), BENCH_SECONDS each (TLS with 1000 connections: 3 x, at least
# 12 s, as the 1000 handshakes alone take seconds), after a 1 s warm-up per proxy. Per proxy
# and case: requests/s (all rounds together), p50 and p99 (mean of the rounds), the proxy's CPU
# time per request (utime+stime from /proc over the timed runs: on shared cores the figure
# that moves least), its RSS after the case (a high-water mark: memory pools keep the pages they
# touched), and the ratios ours/nginx and ours/haproxy.
#
# Before the matrix (case names "idle" and "hs"): each proxy's RSS after start with no traffic;
# the RSS that BENCH_IDLE_CONNS idle keep-alive connections add, plain and TLS (one request on
# each, then idle; a small python client holds them), per connection; and the CPU per full TLS
# handshake (tools/bench/tls_handshake.c, BearSSL client, no resumption, BENCH_HS_SECONDS). The
# three proxies are then restarted, so the matrix starts from fresh processes.
#
# Settings (environment):
#   BENCH_SECONDS (4)  BENCH_ROUNDS (2)  BENCH_CASES (all: every case, idle and hs; a list of
#   shell patterns)  BENCH_IDLE_CONNS (1000)  BENCH_HS_SECONDS (4)  BENCH_QUICK (0; 1 = 2 s runs
#   and the cases plain-ka-100-c50 plain-ka-16k-c50 tls-ka-100-c50 plain-close-100-c50 idle)
#   BENCH_OPT (ship: build/bin/traefikee as `make` builds it; -O2 or any -O level: the same
#   program compiled whole at that level into build/bench/traefikee-O2, for comparison)
# Installs wrk, nginx and haproxy from Debian when missing (apt-get). Every process it starts
# is killed by PID at the end, whatever happens.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
  SECS=${BENCH_SECONDS:-2}
  CASES=${BENCH_CASES:-plain-ka-100-c50 plain-ka-16k-c50 tls-ka-100-c50 plain-close-100-c50 idle}
  IDLE_N=${BENCH_IDLE_CONNS:-300}
else
  SECS=${BENCH_SECONDS:-4}
  CASES=${BENCH_CASES:-all}
  IDLE_N=${BENCH_IDLE_CONNS:-1000}
fi
ROUNDS=${BENCH_ROUNDS:-2}
HS_SECS=${BENCH_HS_SECONDS:-4}
OPT=${BENCH_OPT:-ship}
. "$top/tools/bench/bench_lib.sh"
bench_setup "$top/build/bench/proxy"
bench_need wrk nginx haproxy
PY=$(command -v python3 || true)

# --- the cases -------------------------------------------------------------------------------
all_cases=()
for mode in plain tls; do
  for conn in ka close; do
    for body in 100 16k; do
      for n in 10 50 1000; do all_cases+=("$mode-$conn-$body-c$n"); done
    done
  done
done
selected() { # selected NAME: whether BENCH_CASES asks for it
  local pat
  [ "$CASES" = all ] && return 0
  for pat in ${CASES//,/ }; do
    # shellcheck disable=SC2053
    [[ $1 == $pat ]] && return 0
  done
  return 1
}
run_cases=()
for c in "${all_cases[@]}"; do selected "$c" && run_cases+=("$c"); done

# --- binaries ---------------------------------------------------------------------------------
MUSL=(musl-gcc -static -s -Wl,--gc-sections -std=c11 -D_GNU_SOURCE -Isrc -Ibuild/gen
      -isystem build/deps/include/bearssl -isystem build/deps/include/lmdb
      -isystem build/deps/include/jsmn -isystem build/deps/kinc -ffunction-sections -fdata-sections)
if [ "$OPT" = ship ]; then
  bin=$top/build/bin/traefikee
  [ -x "$bin" ] || make --no-print-directory all >/dev/null || { echo "bench: make failed"; exit 1; }
else
  make --no-print-directory deps build/gen/version.h >/dev/null || { echo "bench: make deps failed"; exit 1; }
  bin=$top/build/bench/traefikee$OPT
  echo "bench: compiling traefikee at $OPT (whole program, about 30 s)"
  # shellcheck disable=SC2046
  "${MUSL[@]}" "$OPT" -o "$bin" src/cli/cli_traefikee_main.c $(ls src/*/*.c | grep -v '_main\.c$') \
    build/deps/lib/libbearssl.a build/deps/lib/liblmdb.a -lpthread || exit 1
fi
hs_cli=$top/build/bench/tls_handshake
if selected hs && { [ ! -x "$hs_cli" ] || [ tools/bench/tls_handshake.c -nt "$hs_cli" ]; }; then
  make --no-print-directory deps >/dev/null || exit 1
  "${MUSL[@]}" -O2 -o "$hs_cli" tools/bench/tls_handshake.c build/deps/lib/libbearssl.a || exit 1
fi

head -c 100 /dev/zero | tr '\0' 'x' > "$work/www/f100"
head -c 16384 /dev/zero | tr '\0' 'x' > "$work/www/f16k"
port; UP=$P; port; NG=$P; port; HP=$P; port; TE=$P; port; NGS=$P; port; HPS=$P; port; TES=$P
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  >/dev/null 2>&1 || { echo "bench: openssl failed"; exit 1; }
cat "$work/cert.pem" "$work/key.pem" > "$work/haproxy.pem"
pem_json() { awk 'BEGIN { ORS = "" } { print $0 "\\n" }' "$1"; }
CIPH=ECDHE-ECDSA-AES128-GCM-SHA256

upstream_conf "$work/upstream.conf" "$UP"
cat > "$work/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 8192; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 120s;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  upstream up { server 127.0.0.1:$UP; keepalive 1024; }
  server { listen 127.0.0.1:$NG backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:$NGS ssl backlog=4096; ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2; ssl_ciphers $CIPH;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
cat > "$work/haproxy.cfg" <<CONF
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
declare -A PID PORT SPORT
start_proxies() { # fresh processes of the three proxies (the idle figures and the matrix each
                  # start from new ones, so neither sees pages the other touched)
  "$NGINX" -c "$work/nginx.conf" -p "$work" 2>>"$work/nginx.err" & pids+=($!); PID[nginx]=$!
  "$HAPROXY" -f "$work/haproxy.cfg" -db >>"$work/haproxy.log" 2>&1 & pids+=($!); PID[haproxy]=$!
  "$bin" start-data-node --standalone="$work/routing.json" --log.level=warn >>"$work/traefikee.log" 2>&1 &
  pids+=($!); PID[ours]=$!
  local p
  for p in $UP $NG $HP $TE $NGS $HPS $TES; do
    wait_port "$p" || { echo "bench: nothing listens on $p"; tail -n 20 "$work"/*.err "$work"/*.log 2>/dev/null; exit 1; }
  done
  sleep 0.5
}
stop_proxies() {
  local p i
  for p in ours nginx haproxy; do kill "${PID[$p]}" 2>/dev/null; done
  for p in ours nginx haproxy; do
    for i in $(seq 50); do kill -0 "${PID[$p]}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${PID[$p]}" 2>/dev/null; wait "${PID[$p]}" 2>/dev/null
  done
}
start_proxies
PORT[ours]=$TE; PORT[nginx]=$NG; PORT[haproxy]=$HP
SPORT[ours]=$TES; SPORT[nginx]=$NGS; SPORT[haproxy]=$HPS
proxies="ours nginx haproxy"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The machine's ticks: "idle total" (idle + iowait, and all states) from /proc/stat.
sys_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t; exit }' /proc/stat; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
calc() { awk "BEGIN { $1 }"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
to_ms() { # wrk latency (12.3us, 1.2ms, 3.4s) -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
    else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $(nproc) CPUs, load $load0; ours: $bin, opt $OPT; ${SECS}s x $ROUNDS rounds per case and proxy"
echo "bench: upstream nginx :$UP; nginx :$NG/:$NGS; haproxy :$HP/:$HPS; ours :$TE/:$TES"

# --- idle memory -----------------------------------------------------------------------------
declare -A IDLE KA_PER TLS_PER HS_US HS_RATE
for p in $proxies; do IDLE[$p]=$(rss_kb "${PID[$p]}"); done
cat > "$work/idle_conns.py" <<'PY'
# idle_conns.py HOST PORT N TLS: open N connections, one request on each, hold them idle.
import socket, ssl, sys, time
host, port, n, tls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
ctx = None
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
held, req = [], b"GET /f100 HTTP/1.1\r\nHost: localhost\r\n\r\n"
for i in range(n):
    s = socket.create_connection((host, port))
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(req)
    got = b""
    while not (b"\r\n\r\n" in got and len(got.split(b"\r\n\r\n", 1)[1]) >= 100):
        d = s.recv(4096)
        if not d:
            print("closed", i, flush=True); sys.exit(1)
        got += d
    held.append(s)
print("ready", len(held), flush=True)
time.sleep(3600)
PY
idle_per_conn() { # idle_per_conn PROXY PORT TLS -> bytes per connection (or -)
  local p=$1 port=$2 tls=$3 before after cpid i out=$work/idle.out
  [ -n "$PY" ] || { echo -; return; }
  before=$(rss_kb "${PID[$p]}")
  : > "$out"
  "$PY" "$work/idle_conns.py" 127.0.0.1 "$port" "$IDLE_N" "$tls" > "$out" 2>&1 &
  cpid=$!; pids+=("$cpid")
  for i in $(seq 600); do grep -q "ready\|closed\|Error" "$out" && break; sleep 0.1; done
  sleep 0.5
  after=$(rss_kb "${PID[$p]}")
  kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
  if grep -q "ready $IDLE_N" "$out"; then
    calc "printf \"%.0f\", ($after - $before) * 1024 / $IDLE_N"
  else
    echo "-"
    echo "bench: idle connections to $p: $(tail -n 2 "$out" | tr '\n' ' ')" >&2
  fi
  sleep 1 # let the proxy close them
}
if selected idle; then
  echo "--- idle memory: RSS after start, then $IDLE_N idle keep-alive connections, plain and TLS"
  for p in $proxies; do
    KA_PER[$p]=$(idle_per_conn "$p" "${PORT[$p]}" 0)
    TLS_PER[$p]=$(idle_per_conn "$p" "${SPORT[$p]}" 1)
    printf '  %-8s idle RSS %6s kB   per idle keep-alive conn %6s B   per idle TLS conn %6s B\n' \
      "$p" "${IDLE[$p]}" "${KA_PER[$p]}" "${TLS_PER[$p]}"
  done
fi

# --- TLS handshake cost ------------------------------------------------------------------------
if selected hs; then
  echo "--- full TLS handshakes (BearSSL client, 2 processes, no resumption, ${HS_SECS}s each)"
  for p in $proxies; do
    c0=$(cpu_ticks "${PID[$p]}")
    out=$("$hs_cli" 127.0.0.1 "${SPORT[$p]}" "$work/cert.pem" "$HS_SECS" 2 2>&1)
    c1=$(cpu_ticks "${PID[$p]}")
    read -r _ n _ f _ _ _ r <<<"$out"
    if [ -n "${n:-}" ] && [ "${n:-0}" -gt 0 ] 2>/dev/null; then
      HS_US[$p]=$(calc "printf \"%.0f\", ($c1 - $c0) / $hz * 1e6 / $n")
      HS_RATE[$p]=${r%/s}
    else
      HS_US[$p]=-; HS_RATE[$p]=-
    fi
    printf '  %-8s %8s handshakes/s  %6s us CPU per handshake  (%s)\n' "$p" "${HS_RATE[$p]}" "${HS_US[$p]}" "$out"
  done
fi

# --- the matrix --------------------------------------------------------------------------------
declare -A REQS TIME TICKS P50 P99 RSS ERRS UTICKS IDLE_T ALL_T
one_run() { # one_run PROXY CASE WARMUP(0/1): one wrk run, accumulated into the tables
  local p=$1 c=$2 warm=$3 mode conn body url hdr=() out t0 t1 n d k
  IFS=- read -r mode conn body _ <<<"$c"
  n=${c##*-c}
  if [ "$mode" = tls ]; then url="https://127.0.0.1:${SPORT[$p]}/f$body"; else url="http://127.0.0.1:${PORT[$p]}/f$body"; fi
  [ "$conn" = close ] && hdr=(-H "Connection: close")
  if [ "$warm" = 1 ]; then
    wrk -t1 -c"$n" -d1s "${hdr[@]}" "$url" >/dev/null 2>&1
    return
  fi
  local secs=$SECS
  # 1000 new TLS connections take seconds of handshakes before the first request: run longer
  if [ "$mode" = tls ] && [ "$n" -ge 1000 ]; then secs=$((SECS * 3 > 12 ? SECS * 3 : 12)); fi
  local u0 u1 i0 a0 i1 a1
  read -r i0 a0 <<<"$(sys_ticks)"
  u0=$(cpu_ticks "$up_pid")
  t0=$(cpu_ticks "${PID[$p]}")
  out=$(wrk -t1 -c"$n" -d"${secs}s" --timeout 10s --latency "${hdr[@]}" "$url" 2>&1)
  t1=$(cpu_ticks "${PID[$p]}")
  u1=$(cpu_ticks "$up_pid")
  read -r i1 a1 <<<"$(sys_ticks)"
  k="$c/$p"
  UTICKS[$k]=$(( ${UTICKS[$k]:-0} + u1 - u0 ))
  IDLE_T[$k]=$(( ${IDLE_T[$k]:-0} + i1 - i0 ))
  ALL_T[$k]=$(( ${ALL_T[$k]:-0} + a1 - a0 ))
  d=$(echo "$out" | awk '/requests in/ {print $1}')
  [ -n "$d" ] || d=0
  REQS[$k]=$(( ${REQS[$k]:-0} + d ))
  TIME[$k]=$(calc "print ${TIME[$k]:-0} + $(echo "$out" | awk '/requests in/ {sub(/s,$/, "", $4); print $4 + 0}')")
  TICKS[$k]=$(( ${TICKS[$k]:-0} + t1 - t0 ))
  P50[$k]=$(calc "print ${P50[$k]:-0} + $(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")")
  P99[$k]=$(calc "print ${P99[$k]:-0} + $(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")")
  local r; r=$(rss_kb "${PID[$p]}")
  [ "$r" -gt "${RSS[$k]:-0}" ] && RSS[$k]=$r
  local e; e=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr -s ' ' | tr '\n' ' ')
  [ -n "$e" ] && ERRS[$k]="${ERRS[$k]:-}$e"
}
rps() { calc "if ($2 > 0) printf \"%.0f\", $1 / $2; else print 0"; }
us_req() { calc "if ($2 > 0) printf \"%.1f\", $1 / $hz * 1e6 / $2; else print \"-\""; }

if [ ${#run_cases[@]} -gt 0 ]; then
  if selected idle || selected hs; then stop_proxies; start_proxies; fi
  echo "--- matrix: ${#run_cases[@]} cases (fresh processes); per proxy: req/s, p50/p99 ms, CPU us/req, RSS kB after the case"
fi
for c in "${run_cases[@]}"; do
  for p in $proxies; do one_run "$p" "$c" 1; done
  for r in $(seq "$ROUNDS"); do
    for p in $proxies; do one_run "$p" "$c" 0; done
  done
  line=""
  for p in $proxies; do
    k="$c/$p"
    line="$line $(printf '%s %7s %6s/%-7s %5s us %6s kB |' "$p" "$(rps "${REQS[$k]}" "${TIME[$k]}")" \
      "$(calc "printf \"%.2f\", ${P50[$k]} / $ROUNDS")" "$(calc "printf \"%.2f\", ${P99[$k]} / $ROUNDS")" \
      "$(us_req "${TICKS[$k]}" "${REQS[$k]}")" "${RSS[$k]:-0}")"
  done
  printf '%-22s%s\n' "$c" "$line"
  for p in $proxies; do [ -n "${ERRS[$c/$p]:-}" ] && echo "    $p: ${ERRS[$c/$p]}"; done
done

# --- summary -----------------------------------------------------------------------------------
load1=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "=== summary (load before $load0, after $load1; ours = traefikee start-data-node --standalone, $OPT)"
if [ ${#run_cases[@]} -gt 0 ]; then
  printf '%-22s %8s %8s %8s %6s %6s | %6s %6s %6s %6s %6s | %7s %7s %7s | %s\n' case "ours" nginx haproxy \
    "o/ng" "o/hp" "us:our" "us:ng" "us:hp" "o/ng" "o/hp" "p99:our" "p99:ng" "p99:hp" "behind"
  declare -A R U
  for c in "${run_cases[@]}"; do
    for p in $proxies; do
      R[$p]=$(rps "${REQS[$c/$p]}" "${TIME[$c/$p]}")
      U[$p]=$(us_req "${TICKS[$c/$p]}" "${REQS[$c/$p]}")
    done
    behind=""
    [ "${R[ours]}" -lt "${R[nginx]}" ] && behind="${behind}nginx "
    [ "${R[ours]}" -lt "${R[haproxy]}" ] && behind="${behind}haproxy"
    printf '%-22s %8s %8s %8s %6s %6s | %6s %6s %6s %6s %6s | %7s %7s %7s | %s\n' "$c" \
      "${R[ours]}" "${R[nginx]}" "${R[haproxy]}" "$(ratio "${R[ours]}" "${R[nginx]}")" \
      "$(ratio "${R[ours]}" "${R[haproxy]}")" "${U[ours]}" "${U[nginx]}" "${U[haproxy]}" \
      "$(ratio "${U[ours]}" "${U[nginx]}")" "$(ratio "${U[ours]}" "${U[haproxy]}")" \
      "$(calc "printf \"%.2f\", ${P99[$c/ours]} / $ROUNDS")" "$(calc "printf \"%.2f\", ${P99[$c/nginx]} / $ROUNDS")" \
      "$(calc "printf \"%.2f\", ${P99[$c/haproxy]} / $ROUNDS")" "${behind:--}"
  done
  echo "(req/s: all rounds; o/ng, o/hp: ours over the peer (req/s: higher is better; us/req: lower is better); p99 in ms)"
  # wrk, the upstream and the proxy share the cores: req/s is bounded by what all of them spend
  # per request and by the time the cores sit idle waiting for each other's wake-ups.
  echo
  echo "system view: the upstream's CPU us per request and the cores' idle share while each proxy ran"
  printf '%-22s %8s %8s %8s | %6s %6s %6s\n' case "up:our" "up:ng" "up:hp" "id:our" "id:ng" "id:hp"
  for c in "${run_cases[@]}"; do
    line=""
    for p in $proxies; do line="$line $(printf '%8s' "$(us_req "${UTICKS[$c/$p]:-0}" "${REQS[$c/$p]}")")"; done
    line="$line |"
    for p in $proxies; do
      line="$line $(printf '%6s' "$(calc "if (${ALL_T[$c/$p]:-0} > 0) printf \"%.1f%%\", 100 * ${IDLE_T[$c/$p]:-0} / ${ALL_T[$c/$p]}; else print \"-\"")")"
    done
    printf '%-22s%s\n' "$c" "$line"
  done
fi
yes_no() { if [ "$1" = 1 ]; then echo "MET"; else echo "NOT MET"; fi; }
echo "targets:"
k=plain-ka-100-c50
if [ -n "${REQS[$k/ours]:-}" ]; then
  uo=$(us_req "${TICKS[$k/ours]}" "${REQS[$k/ours]}")
  un=$(us_req "${TICKS[$k/nginx]}" "${REQS[$k/nginx]}")
  ro=$(rps "${REQS[$k/ours]}" "${TIME[$k/ours]}")
  best=$(rps "${REQS[$k/nginx]}" "${TIME[$k/nginx]}"); rh=$(rps "${REQS[$k/haproxy]}" "${TIME[$k/haproxy]}")
  [ "$rh" -gt "$best" ] && best=$rh
  echo "  CPU <= 9 us/req at 100 B keep-alive c50: ours $uo us ($(ratio "$uo" "$un") x nginx's $un in this run; 9 us is about 0.7x nginx on a quiet machine): $(yes_no "$(calc "print ($uo <= 9)")")"
  echo "  req/s >= 1.25 x best peer at 100 B keep-alive c50: ours $ro, best peer $best ($(ratio "$ro" "$best") x): $(yes_no "$(calc "print ($ro >= 1.25 * $best)")")"
  nb=0
  for c in "${run_cases[@]}"; do
    for p in nginx haproxy; do
      [ "$(rps "${REQS[$c/ours]}" "${TIME[$c/ours]}")" -lt "$(rps "${REQS[$c/$p]}" "${TIME[$c/$p]}")" ] && nb=$((nb + 1))
    done
  done
  echo "  never behind either peer (req/s): $nb case/peer pairs behind: $(yes_no "$([ $nb = 0 ] && echo 1)")"
  # The same comparison on CPU per request: wrk, the upstream and the proxy share the cores, so
  # req/s also measures how the scheduler splits them; CPU per request is the proxy's own cost.
  nu=0 worst=""
  for c in "${run_cases[@]}"; do
    for p in nginx haproxy; do
      uo=$(us_req "${TICKS[$c/ours]}" "${REQS[$c/ours]}"); up=$(us_req "${TICKS[$c/$p]}" "${REQS[$c/$p]}")
      [ "$uo" != - ] && [ "$up" != - ] && [ "$(calc "print ($uo > $up)")" = 1 ] &&
        { nu=$((nu + 1)); worst="$worst $c/$p"; }
    done
  done
  echo "  never behind either peer (CPU per request): $nu case/peer pairs behind${worst:+ (}${worst# }${worst:+)}: $(yes_no "$([ $nu = 0 ] && echo 1)")"
fi
echo "  idle RSS <= 2 MiB: ours ${IDLE[ours]} kB (nginx ${IDLE[nginx]}, haproxy ${IDLE[haproxy]}): $(yes_no "$([ "${IDLE[ours]}" -le 2048 ] && echo 1)")"
if [ -n "${TLS_PER[ours]:-}" ] && [ "${TLS_PER[ours]}" != - ]; then
  echo "  <= 6 kB per idle TLS connection: ours ${TLS_PER[ours]} B (nginx ${TLS_PER[nginx]}, haproxy ${TLS_PER[haproxy]}); per idle keep-alive connection ours ${KA_PER[ours]} B (nginx ${KA_PER[nginx]}, haproxy ${KA_PER[haproxy]}): $(yes_no "$([ "${TLS_PER[ours]}" -le 6144 ] && echo 1)")"
fi
if [ -n "${HS_US[ours]:-}" ]; then
  echo "  CPU per full TLS handshake: ours ${HS_US[ours]} us, nginx ${HS_US[nginx]} us, haproxy ${HS_US[haproxy]} us"
fi
exit 0
