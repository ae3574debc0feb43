# tools/bench/bench_lib.sh — what the proxy benchmarks share (sourced by bench_proxy.sh and
# bench_ir.sh): killing by PID at exit, installing the peers, free loopback ports, waiting for
# a listener, and the upstream (nginx, one worker, keep-alive, serving $work/www).
#
#   bench_setup WORK         the work folder (www/, tmp/), the exit trap, the open-files limit
#   bench_need TOOL...       apt-get what is missing of wrk nginx haproxy valgrind; sets NGINX
#                            and HAPROXY
#   port                     a free loopback port never handed out before (sets P)
#   wait_port PORT           until something listens (5 s; 30 s with BENCH_WAIT_LONG=1)
#   upstream_conf FILE PORT  the upstream nginx configuration
# Every process started is added to the array `pids` and killed (TERM, then KILL) at exit.

pids=()
bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  return 0
}

bench_setup() {
  work=$1
  mkdir -p "$work/www" "$work/tmp"
  trap bench_cleanup EXIT
  trap 'exit 1' INT TERM
  ulimit -n "$(ulimit -Hn)" 2>/dev/null
}

bench_need() {
  local need=() t
  for t in "$@"; do
    case $t in
    nginx) command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light) ;;
    haproxy) command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy) ;;
    *) command -v "$t" >/dev/null || need+=("$t") ;;
    esac
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} (apt-get)"
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
      { echo "bench: cannot install ${need[*]}"; exit 1; }
  fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
}

taken=" "
eph=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$eph" -gt 12000 ] 2>/dev/null || eph=32768
port() { # a free loopback port below the ephemeral range (outgoing connections take those),
         # never one handed out before (sets P)
  while :; do
    P=$((eph - 10000 + RANDOM % 9000))
    case $taken in *" $P "*) continue ;; esac
    (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null || { taken="$taken$P "; return; }
  done
}
wait_port() {
  local i n=50
  [ "${BENCH_WAIT_LONG:-0}" = 1 ] && n=300
  for i in $(seq "$n"); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

upstream_conf() {
  cat >"$1" <<CONF
daemon off; master_process off; worker_processes 1; pid $work/upstream.pid;
error_log $work/upstream.err warn;
events { worker_connections 8192; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 120s;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$2 backlog=4096; location / { root $work/www; } }
}
CONF
}
