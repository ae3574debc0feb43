#!/usr/bin/env bash
# The data plane's Traefik v1 features configured the cluster way: a Traefik v1 TOML file given
# to `traefikee deploy --file.filename=...` goes through the file provider (TOML -> KV layout ->
# routing document), the control node commits it, the data node streams it and its engine
# applies it; then the same configuration written in the KV layout to Consul (the test server,
# tests/consul_server/consul_server.py) and deployed with --consul replaces it, and every check
# runs again ([file], then [consul]). One bootstrap control node and one data node on loopback;
# two upstreams (tests/regress/proxy_upstream.py): `app` and `errsrv`. Checked through the data
# node's entry points: headers (sslRedirect 301 to https; frameDeny, stsSeconds +
# forceSTSHeader, customResponseHeaders), rateLimit (the 4th rapid request of one X-Key is 429,
# another key passes), an errors page (an upstream 500 gets errsrv's /err/500.html with status
# 500) on a frontend and a backend named "errors" whose own keys must still be read,
# circuitBreaker (500s trip it: 503), buffering maxRequestBodyBytes (413 over, 200 under),
# entry point Compress:true (gzip that decodes to the upstream's bytes; not on the other entry
# point), passTLSClientCert on a TLS entry point with an optional client CA, and entry point
# ProxyProtocol.TrustedIPs.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
EPGZ=127.0.0.1:$((BASE + 81))
TLSPORT=$((BASE + 82))
EPPP=127.0.0.1:$((BASE + 83))

spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=app >"$D/app.out" 2>&1
spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=errsrv >"$D/errsrv.out" 2>&1
APP=$(upstream_port app) || { not_ok "the app upstream starts"; finish; }
ERRS=$(upstream_port errsrv) || { not_ok "the error page upstream starts"; finish; }

# A CA, the TLS entry point's certificate (ptc.test) and a client certificate (CN=client1).
mkcert() { # NAME SUBJECT [CA]: ECDSA P-256 key and certificate, self-signed CA without a third argument
  openssl ecparam -genkey -name prime256v1 -noout -out "$D/$1.key" 2>/dev/null || return 1
  if [ $# -eq 2 ]; then
    openssl req -x509 -new -key "$D/$1.key" -subj "$2" -days 2 -out "$D/$1.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
  else
    printf 'subjectAltName=DNS:ptc.test\nextendedKeyUsage=serverAuth,clientAuth\n' >"$D/$1.ext"
    openssl req -new -key "$D/$1.key" -subj "$2" 2>/dev/null |
      openssl x509 -req -CA "$D/$3.pem" -CAkey "$D/$3.key" -CAcreateserial -days 2 \
        -extfile "$D/$1.ext" -out "$D/$1.pem" 2>/dev/null
  fi
}
if ! { mkcert ca "/CN=Cluster Test CA" && mkcert srv "/CN=ptc.test" ca && mkcert client "/CN=client1" ca; }; then
  not_ok "openssl makes the certificates"; finish
fi
# What passTLSClientCert pem = true and infos notAfter + subject commonName must send (Traefik's
# formats, docs/internals/proxy-ptc.md), computed from openssl's output.
read -r EXP_PEM EXP_INFOS < <(python3 - "$D/client.pem" <<'EOF'
import base64, datetime, subprocess, sys, urllib.parse
pem = sys.argv[1]
der = subprocess.run(["openssl", "x509", "-in", pem, "-outform", "DER"], check=True,
                     capture_output=True).stdout
na = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-enddate"], check=True,
                    capture_output=True, text=True).stdout.strip().split("=", 1)[1]
na = datetime.datetime.strptime(na, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=datetime.timezone.utc)
q = lambda v: urllib.parse.quote_plus(v, safe="")
print(q(base64.b64encode(der).decode()), q('Subject="CN=client1",NA=%d' % int(na.timestamp())))
EOF
)

cat >"$D/routes.toml" <<EOF
# Traefik v1 file provider syntax, keys spelled as in Traefik's documentation.
[backends]
  [backends.app.servers.s1]
  url = "http://127.0.0.1:$APP"
  [backends.errors.servers.s1]
  url = "http://127.0.0.1:$ERRS"
  [backends.errors.loadBalancer]
  method = "drr"
  [backends.cb.servers.s1]
  url = "http://127.0.0.1:$APP"
  [backends.cb.circuitbreaker]
  expression = "ResponseCodeRatio(500, 600, 0, 600) > 0.5"
  [backends.buf.servers.s1]
  url = "http://127.0.0.1:$APP"
  [backends.buf.buffering]
  maxRequestBodyBytes = 100

[frontends]
  [frontends.redir]
  backend = "app"
    [frontends.redir.routes.r1]
    rule = "Host:redir.test"
    [frontends.redir.headers]
    SSLRedirect = true
  [frontends.secure]
  backend = "app"
    [frontends.secure.routes.r1]
    rule = "Host:secure.test"
    [frontends.secure.headers]
    FrameDeny = true
    STSSeconds = 31536000
    ForceSTSHeader = true
      [frontends.secure.headers.customResponseHeaders]
      X-Custom = "cluster-yes"
  [frontends.rl]
  backend = "app"
    [frontends.rl.routes.r1]
    rule = "Host:rl.test"
    [frontends.rl.ratelimit]
    extractorfunc = "request.header.X-Key"
      [frontends.rl.ratelimit.rateset.r1]
      period = "1s"
      average = 3
      burst = 3
  [frontends.errors]
  backend = "app"
  entryPoints = ["http"]
    [frontends.errors.routes.r1]
    rule = "Host:errp.test"
    [frontends.errors.errors.e]
    status = ["500-599"]
    backend = "errors"
    query = "/err/{status}.html"
  [frontends.cb]
  backend = "cb"
    [frontends.cb.routes.r1]
    rule = "Host:cb.test"
  [frontends.buf]
  backend = "buf"
    [frontends.buf.routes.r1]
    rule = "Host:buf.test"
  [frontends.gz]
  backend = "app"
    [frontends.gz.routes.r1]
    rule = "Host:gz.test"
  [frontends.ptc]
  backend = "app"
  entryPoints = ["tls"]
    [frontends.ptc.routes.r1]
    rule = "Host:ptc.test"
    [frontends.ptc.passTLSClientCert]
    pem = true
      [frontends.ptc.passTLSClientCert.infos]
      notAfter = true
        [frontends.ptc.passTLSClientCert.infos.subject]
        commonName = true
  [frontends.pp]
  backend = "app"
  entryPoints = ["pp"]
    [frontends.pp.routes.r1]
    rule = "Host:pp.test"
EOF

# One control node (the bootstrap node, --controlnodes=1) and one data node.
spawn "$T" bootstrap --licensekey=K --status.downafter=2 --statedir="$D/s0" \
  --traefikeesocket="$D/s0.sock" --listen=127.0.0.1:$((BASE + 10)) \
  --advertise=127.0.0.1:$((BASE + 10)) --controlapi.listen=127.0.0.1:$((BASE + 30)) \
  --name=control-node-0 --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
leads() { "$T" list-nodes --traefikeesocket="$D/s0.sock" 2>/dev/null | grep -q "(Current Leader)"; }
wait_for 20 leads || { not_ok "the bootstrap node leads"; tail -n 5 "$D/c0.log"; finish; }
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/d1" \
  --name=data-node-1 >"$D/d1.log" 2>&1

# Four entry points: http, gz (Compress), tls (client certificates optional), pp (PROXY protocol
# from 127.0.0.1 only).
EPS=(--entryPoints="Name:tls Address:127.0.0.1:$TLSPORT TLS:$D/srv.pem,$D/srv.key CA:$D/ca.pem CA.Optional:true"
  --entryPoints="Name:pp Address:$EPPP ProxyProtocol.TrustedIPs:127.0.0.1/32")
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --entryPoints="Name:gz Address:$EPGZ Compress:true" "${EPS[@]}" --defaultentrypoints=http,gz \
  --file.filename="$D/routes.toml" --providersthrottleduration=0s
check "deploy of a Traefik v1 TOML file exits 0" [ "$RC" -eq 0 ]
serves() { curl -s --max-time 2 -H "Host: secure.test" "http://$EP/" | grep -q '"server": "app"'; }
if wait_for 30 serves; then ok "the data node routes the TOML's frontends"; else
  not_ok "the data node routes the TOML's frontends"; tail -n 5 "$D/c0.log" "$D/d1.log"; finish
fi

# req HOST URL [CURL ARGS...]: $CODE, $BODY ($D/body) and $HDRS ($D/hdrs) of one request.
req() {
  local host=$1 url=$2; shift 2
  CODE=$(curl -s --max-time 10 -o "$D/body" -D "$D/hdrs" -w '%{http_code}' -H "Host: $host" "$@" "$url")
  BODY=$(tr -d '\0' <"$D/body"); HDRS=$(tr -d '\r' <"$D/hdrs")
}

# burst KEY: the codes of 4 requests with X-Key: KEY on one connection to the rate-limited frontend.
burst() {
  curl -s --max-time 10 -w '%{http_code} ' -H "Host: rl.test" -H "X-Key: $1" \
    -o /dev/null "http://$EP/1" -o /dev/null "http://$EP/2" -o /dev/null "http://$EP/3" \
    -o /dev/null "http://$EP/4"
}
# trips N: the data node has logged at least N trips of backend cb's breaker.
trips() { [ "$(grep -c 'circuit breaker tripped.*backend=cb' "$D/d1.log")" -ge "$1" ]; }

# pp_get HOST:PORT: $PPR, the answer to a PROXY v1 header (source 203.0.113.7) and a GET of pp.test.
pp_get() {
  PPR=$(python3 - "${1%:*}" "${1##*:}" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
          b"GET / HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n")
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except OSError:
    pass
sys.stdout.write(out.decode("latin-1"))
EOF
)
}

# features P N: every check through the data node's entry points, described with provider P;
# N: the breaker trips the data node should have logged by then.
features() {
  local P=$1 N=$2 seen
  # headers: sslRedirect.
  req redir.test "http://$EP/a/b?q=1"
  check "[$P] headers SSLRedirect: 301 (got $CODE)" [ "$CODE" = 301 ]
  check "[$P] ... Location: https://redir.test/a/b?q=1" has "$HDRS" "Location: https://redir.test/a/b?q=1"

  # headers: frameDeny, stsSeconds + forceSTSHeader on plain http, customResponseHeaders.
  req secure.test "http://$EP/"
  check "[$P] headers FrameDeny: X-Frame-Options: DENY" has "$HDRS" "X-Frame-Options: DENY"
  check "[$P] headers STSSeconds + ForceSTSHeader: Strict-Transport-Security: max-age=31536000 on http" \
    has "$HDRS" "Strict-Transport-Security: max-age=31536000"
  check "[$P] headers customResponseHeaders: X-Custom: cluster-yes" has "$HDRS" "X-Custom: cluster-yes"
  req gz.test "http://$EP/"
  check "[$P] a frontend without headers gets none of them" \
    bash -c '! grep -qiE "^(X-Frame-Options|Strict-Transport-Security|X-Custom):" "$0"' "$D/hdrs"

  # rateLimit: average 3 per 1s, burst 3, keyed on X-Key; 4 requests on one connection.
  CODES=$(burst "k1-$P")
  check "[$P] rateLimit: the 4th rapid request of one X-Key is 429 (got $CODES)" [ "$CODES" = "200 200 200 429 " ]
  CODE=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Host: rl.test" -H "X-Key: k2-$P" "http://$EP/")
  check "[$P] ... another X-Key passes (got $CODE)" [ "$CODE" = 200 ]

  # errors: an upstream 500 is answered with the page of backend errors, status kept.
  req errp.test "http://$EP/_status/500"
  check "[$P] errors page: an upstream 500 keeps status 500 (got $CODE)" [ "$CODE" = 500 ]
  check "[$P] ... with errsrv's answer to /err/500.html as the body" \
    bash -c 'grep -qF "\"server\": \"errsrv\"" "$0" && grep -qF "\"target\": \"/err/500.html\"" "$0"' "$D/body"
  req errp.test "http://$EP/_status/404"
  check "[$P] ... a 404 (not in 500-599) passes untouched (got $CODE)" \
    bash -c '[ "$0" = 404 ] && grep -qF "status 404" "$1"' "$CODE" "$D/body"
  # A frontend (and a backend) named "errors", like the error page docs: its own keys
  # (entryPoints here) are still read, not taken for error page names.
  req errp.test "http://$EPGZ/_status/500"
  check "[$P] frontend named errors: entryPoints = [\"http\"] keeps it off entry point gz (got $CODE)" [ "$CODE" = 404 ]

  # buffering: maxRequestBodyBytes = 100.
  req buf.test "http://$EP/post" --data-binary @"$D/big"
  check "[$P] buffering maxRequestBodyBytes 100: a 200-byte body gets 413 (got $CODE)" [ "$CODE" = 413 ]
  req buf.test "http://$EP/post" --data-binary @"$D/small"
  check "[$P] ... a 50-byte body passes (got $CODE)" bash -c '[ "$0" = 200 ] && grep -qF "\"body_len\": 50" "$1"' "$CODE" "$D/body"

  # circuitBreaker: ResponseCodeRatio(500, 600, 0, 600) > 0.5 trips on 500s; then 503.
  seen=""
  for _ in $(seq 40); do
    req cb.test "http://$EP/_status/500"
    seen="$seen $CODE"
    [ "$CODE" = 503 ] && break
    sleep 0.02
  done
  check "[$P] circuitBreaker: 500s are relayed, then the breaker trips (503)" \
    bash -c 'case "$0" in " 500"*" 503") exit 0;; *) exit 1;; esac' "$seen"
  check "[$P] ... with the proxy's Service Unavailable body" has "$BODY" "Service Unavailable"
  check "[$P] ... logged by the data node naming backend cb (trip $N)" wait_for 5 trips "$N"

  # Compress:true on entry point gz only.
  req gz.test "http://$EPGZ/_bytes/3000" -H "Accept-Encoding: gzip"
  check "[$P] entry point Compress:true: Content-Encoding: gzip for a 3000-byte body" \
    has "$HDRS" "Content-Encoding: gzip"
  check "[$P] ... it decodes with gzip -dc to the upstream's bytes" \
    bash -c 'gzip -dc <"$0" 2>/dev/null | cmp -s - "$1"' "$D/body" "$D/plain.bin"
  req gz.test "http://$EP/_bytes/3000" -H "Accept-Encoding: gzip"
  check "[$P] ... the entry point without Compress does not gzip" \
    bash -c '! grep -qi "^Content-Encoding:" "$0" && cmp -s "$1" "$2"' "$D/hdrs" "$D/body" "$D/plain.bin"

  # passTLSClientCert on the tls entry point (client certificate optional).
  req ptc.test "https://ptc.test:$TLSPORT/" --resolve "ptc.test:$TLSPORT:127.0.0.1" \
    --cacert "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key"
  check "[$P] passTLSClientCert pem: X-Forwarded-Tls-Client-Cert is the client's DER, escaped (got $CODE)" \
    has "$BODY" "[\"X-Forwarded-Tls-Client-Cert\", \"$EXP_PEM\"]"
  check "[$P] ... infos notAfter + subject commonName: X-Forwarded-Tls-Client-Cert-Infos" \
    has "$BODY" "[\"X-Forwarded-Tls-Client-Cert-Infos\", \"$EXP_INFOS\"]"
  req ptc.test "https://ptc.test:$TLSPORT/" --resolve "ptc.test:$TLSPORT:127.0.0.1" --cacert "$D/ca.pem"
  check "[$P] ... without a client certificate: 200 and no such field (got $CODE)" \
    bash -c '[ "$0" = 200 ] && ! grep -qF X-Forwarded-Tls-Client "$1"' "$CODE" "$D/body"

  # proxyProtocol on entry point pp: the client address comes from the PROXY header.
  pp_get "$EPPP"
  check "[$P] proxyProtocol: the PROXY header's source is the client (X-Real-Ip 203.0.113.7)" \
    has "$PPR" '["X-Real-Ip", "203.0.113.7"]'
  pp_get "$EP"
  check "[$P] ... an entry point without proxyProtocol answers the header with 400" \
    has "$PPR" "HTTP/1.1 400"
}

head -c 200 /dev/zero | tr '\0' a >"$D/big"
head -c 50 /dev/zero | tr '\0' a >"$D/small"
curl -s --max-time 10 -o "$D/plain.bin" "http://127.0.0.1:$APP/_bytes/3000"
features file 1

# The same configuration in the KV layout (docs/providers.md) in Consul (the test server,
# tests/consul_server/consul_server.py), deployed in place of the file, plus a frontend kv.
spawn python3 "$REGRESS_TOP/tests/consul_server/consul_server.py" >"$D/consul.out" 2>&1
CONSUL=$(upstream_port consul) || { not_ok "the Consul test server starts"; finish; }
cat >"$D/kv.txt" <<EOF
backends/app/servers/s1/url=http://127.0.0.1:$APP
backends/errors/servers/s1/url=http://127.0.0.1:$ERRS
backends/errors/loadbalancer/method=drr
backends/cb/servers/s1/url=http://127.0.0.1:$APP
backends/cb/circuitbreaker/expression=ResponseCodeRatio(500, 600, 0, 600) > 0.5
backends/buf/servers/s1/url=http://127.0.0.1:$APP
backends/buf/buffering/maxrequestbodybytes=100
frontends/redir/backend=app
frontends/redir/routes/r1/rule=Host:redir.test
frontends/redir/headers/sslredirect=true
frontends/secure/backend=app
frontends/secure/routes/r1/rule=Host:secure.test
frontends/secure/headers/framedeny=true
frontends/secure/headers/stsseconds=31536000
frontends/secure/headers/forcestsheader=true
frontends/secure/headers/customresponseheaders/X-Custom=cluster-yes
frontends/rl/backend=app
frontends/rl/routes/r1/rule=Host:rl.test
frontends/rl/ratelimit/extractorfunc=request.header.X-Key
frontends/rl/ratelimit/rateset/r1/period=1s
frontends/rl/ratelimit/rateset/r1/average=3
frontends/rl/ratelimit/rateset/r1/burst=3
frontends/errors/backend=app
frontends/errors/entrypoints=http
frontends/errors/routes/r1/rule=Host:errp.test
frontends/errors/errors/e/status=500-599
frontends/errors/errors/e/backend=errors
frontends/errors/errors/e/query=/err/{status}.html
frontends/cb/backend=cb
frontends/cb/routes/r1/rule=Host:cb.test
frontends/buf/backend=buf
frontends/buf/routes/r1/rule=Host:buf.test
frontends/gz/backend=app
frontends/gz/routes/r1/rule=Host:gz.test
frontends/ptc/backend=app
frontends/ptc/entrypoints=tls
frontends/ptc/routes/r1/rule=Host:ptc.test
frontends/ptc/passtlsclientcert/pem=true
frontends/ptc/passtlsclientcert/infos/notafter=true
frontends/ptc/passtlsclientcert/infos/subject/commonname=true
frontends/pp/backend=app
frontends/pp/entrypoints=pp
frontends/pp/routes/r1/rule=Host:pp.test
frontends/kv/backend=app
frontends/kv/routes/r1/rule=Host:kv.test
EOF
python3 - "$CONSUL" "$D/kv.txt" <<'EOF' || not_ok "the keys are written to Consul"
import sys, urllib.request
port, path = sys.argv[1], sys.argv[2]
for line in open(path):
    k, _, v = line.rstrip("\n").partition("=")
    r = urllib.request.Request("http://127.0.0.1:%s/v1/kv/traefik/%s" % (port, k),
                               data=v.encode(), method="PUT")
    urllib.request.urlopen(r, timeout=5).read()
EOF
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --entryPoints="Name:gz Address:$EPGZ Compress:true" "${EPS[@]}" --defaultentrypoints=http,gz \
  --consul --consul.endpoint="127.0.0.1:$CONSUL" --consul.prefix=traefik \
  --providersthrottleduration=0s
check "deploy of the same configuration in Consul's KV layout exits 0" [ "$RC" -eq 0 ]
serves_kv() { curl -s --max-time 2 -H "Host: kv.test" "http://$EP/" | grep -q '"server": "app"'; }
if wait_for 30 serves_kv; then ok "the data node routes the Consul configuration"; else
  not_ok "the data node routes the Consul configuration"; tail -n 5 "$D/c0.log" "$D/d1.log"; finish
fi
check "the control node reports no unknown key from either provider" \
  bash -c '! grep -qi "unknown key" "$0"' "$D/c0.log"
features consul 2

# The same entry points and routes from one Traefik v1 static configuration file: `deploy
# --configfile` turns its [entryPoints] into the flags above and, as its [file] section names no
# file, makes the file itself the file provider's (its frontends and backends are routes.toml's).
cat >"$D/traefik.toml" <<EOF
logLevel = "INFO"
defaultEntryPoints = ["http", "gz"]
providersThrottleDuration = "0s"
[entryPoints]
  [entryPoints.http]
  address = "$EP"
  [entryPoints.gz]
  address = "$EPGZ"
  compress = true
  [entryPoints.tls]
  address = "127.0.0.1:$TLSPORT"
    [entryPoints.tls.tls]
      [entryPoints.tls.tls.clientCA]
      files = ["$D/ca.pem"]
      optional = true
      [[entryPoints.tls.tls.certificates]]
      certFile = "$D/srv.pem"
      keyFile = "$D/srv.key"
  [entryPoints.pp]
  address = "$EPPP"
    [entryPoints.pp.proxyProtocol]
    trustedIPs = ["127.0.0.1/32"]
[api]
[file]
EOF
cat "$D/routes.toml" >>"$D/traefik.toml"
run "$T" deploy --traefikeesocket="$D/s0.sock" --configfile="$D/traefik.toml"
check "deploy --configfile of a Traefik v1 static configuration exits 0" [ "$RC" -eq 0 ]
check "... and warns that [api] is set on the nodes" has "$ERR" "api is ignored"
gone_kv() { ! curl -s --max-time 2 -H "Host: kv.test" "http://$EP/" | grep -q '"server": "app"'; }
if wait_for 30 gone_kv && wait_for 10 serves; then
  ok "the data node routes the configuration file's frontends (Consul's are gone)"
else
  not_ok "the data node routes the configuration file's frontends (Consul's are gone)"
  tail -n 5 "$D/c0.log" "$D/d1.log"; finish
fi
check "the control node reports no unknown key in traefik.toml" \
  bash -c '! grep -qi "unknown key" "$0"' "$D/c0.log"
features configfile 3
run "$T" deploy --traefikeesocket="$D/s0.sock" --configfile="$D/none.toml"
check "deploy --configfile of a missing file exits 2 naming it" \
  bash -c '[ "$0" -eq 2 ] && grep -qF "none.toml" <<<"$1"' "$RC" "$ERR"
finish
