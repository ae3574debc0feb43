#!/usr/bin/env bash
# tools/bench/bench_tls.sh — full TLS handshakes per second: our data plane against nginx.
#
#   tools/bench/bench_tls.sh          (make bench-tls)
#
# A benchmark, not a test: it prints figures and exits 0 unless something could not start.
# Both servers hold the same certificate (ECDSA P-256, self-signed, made with openssl here),
# speak TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 only (BearSSL has no TLS 1.3), and run
# on one core's worth of process each:
#   traefikee  the data plane in standalone mode (tools/bench/bench_proxy_main.c: the proxy
#              engine of src/proxy with a routing file, one worker), an HTTPS entry point
#   nginx      one worker, master_process off, ssl_session_cache off, session tickets off
# The client is tools/bench/tls_handshake.c (BearSSL, statically linked): BENCH_PROCS
# processes, each doing one full handshake per new TCP connection (fresh client context, no
# session resumption), then close_notify and close. Rounds alternate between the servers
# (traefikee, nginx, traefikee, nginx...) so drift on a shared machine hits both alike; the
# figure per server is the sum of its rounds. Also printed: the server's CPU time per handshake
# (utime+stime from /proc), which moves least when client and server share few cores. Settings (environment):
#   BENCH_ROUNDS (3)  BENCH_SECONDS (4: per round and server)  BENCH_PROCS (4)
# Total time is about 2 * ROUNDS * SECONDS plus start-up (< 60 s with the defaults).
# Installs nginx from Debian when missing (apt-get). Loopback only. Every process it starts
# is killed by PID at the end, whatever happens.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-4}
PROCS=${BENCH_PROCS:-4}
work=$top/build/bench/tls
mkdir -p "$work/tmp"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  return 0
}
trap cleanup EXIT

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx-light (apt-get)"
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 ||
    { echo "bench-tls: cannot install nginx"; exit 1; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- binaries: our standalone data plane and the client, static musl, -O2 -------------------
make --no-print-directory deps build/gen/version.h >/dev/null || { echo "bench-tls: make deps failed"; exit 1; }
MUSL=(musl-gcc -static -s -Wl,--gc-sections -O2 -std=c11 -D_GNU_SOURCE -Isrc -Ibuild/gen
      -isystem build/deps/include/bearssl -isystem build/deps/include/lmdb
      -isystem build/deps/include/jsmn -isystem build/deps/kinc -ffunction-sections -fdata-sections)
bin=$top/build/bench/traefikee-proxy
srcs=$(ls src/{base,loop,http,json,tls,pki,proxy}/*.c) # the proxy's layers only
"${MUSL[@]}" -o "$bin" tools/bench/bench_proxy_main.c $srcs build/deps/lib/libbearssl.a \
  build/deps/lib/liblmdb.a -lpthread || exit 1
cli=$top/build/bench/tls_handshake
"${MUSL[@]}" -o "$cli" tools/bench/tls_handshake.c build/deps/lib/libbearssl.a || exit 1

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

NGS=$(port); TES=$(port); TEH=$(port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  >/dev/null 2>&1 || { echo "bench-tls: openssl failed"; exit 1; }
pem_json() { awk 'BEGIN { ORS = "" } { print $0 "\\n" }' "$1"; }
CIPH=ECDHE-ECDSA-AES128-GCM-SHA256

cat > "$work/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$NGS ssl; ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2; ssl_ciphers $CIPH;
    ssl_ecdh_curve prime256v1; ssl_session_cache off; ssl_session_tickets off;
    location / { return 204; } }
}
CONF
cat > "$work/routing.json" <<CONF
{"version":1,"revision":1,"defaultEntryPoints":["https"],
 "entryPoints":{"http":{"address":"127.0.0.1:$TEH"},
   "https":{"address":"127.0.0.1:$TES","tls":{"certificates":[
     {"certFile":"$(pem_json "$work/cert.pem")","keyFile":"$(pem_json "$work/key.pem")"}]}}},
 "frontends":{"f":{"backend":"b","routes":{"r":{"rule":"PathPrefix:/"}}}},
 "backends":{"b":{"servers":{"s":{"url":"http://127.0.0.1:9"}}}}}
CONF

"$NGINX" -c "$work/nginx.conf" -p "$work" 2>>"$work/nginx.err" & pids+=($!); ng_pid=$!
"$bin" --routing="$work/routing.json" --loglevel=warn >"$work/traefikee.log" 2>&1 & pids+=($!); te_pid=$!
for p in $NGS $TES; do
  wait_port "$p" || { echo "bench-tls: nothing listens on $p"; tail -20 "$work"/*.err "$work"/*.log 2>/dev/null; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
declare -A N F T C
for s in traefikee nginx; do N[$s]=0; F[$s]=0; T[$s]=0; C[$s]=0; done
echo "bench-tls: $ROUNDS rounds x ${SECS}s per server, $PROCS client processes, TLS 1.2 $CIPH, full handshakes"
for r in $(seq "$ROUNDS"); do
  for s in traefikee nginx; do
    if [ "$s" = traefikee ]; then p=$TES; sp=$te_pid; else p=$NGS; sp=$ng_pid; fi
    c0=$(cpu_ticks "$sp")
    out=$("$cli" 127.0.0.1 "$p" "$work/cert.pem" "$SECS" "$PROCS") || { echo "bench-tls: $s: $out"; exit 1; }
    read -r _ n _ f _ t _ <<<"$out"
    C[$s]=$((C[$s] + $(cpu_ticks "$sp") - c0))
    printf '  round %d %-10s %s\n' "$r" "$s" "$out"
    N[$s]=$((N[$s] + n)); F[$s]=$((F[$s] + f)); T[$s]=$(awk -v a="${T[$s]}" -v b="$t" 'BEGIN{print a+b}')
  done
done
te=$(awk -v n="${N[traefikee]}" -v t="${T[traefikee]}" 'BEGIN{printf "%.0f", n/t}')
ng=$(awk -v n="${N[nginx]}" -v t="${T[nginx]}" 'BEGIN{printf "%.0f", n/t}')
for s in traefikee nginx; do
  [ "$s" = traefikee ] && r=$te || r=$ng
  cpu=$(awk -v c="${C[$s]}" -v h="$hz" -v n="${N[$s]}" 'BEGIN{ if (n > 0) printf "%.2f", 1000 * c / h / n; else print "-" }')
  printf '%-10s %8s handshakes/s  %6s ms server CPU/handshake  (%d handshakes, %d failures)\n' \
    "$s" "$r" "$cpu" "${N[$s]}" "${F[$s]}"
done
awk -v a="$te" -v b="$ng" 'BEGIN{ if (b > 0) printf "ratio traefikee/nginx %.2f\n", a/b }'
