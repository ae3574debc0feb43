#!/usr/bin/env bash
# test_proxy_secure.sh — frontend security headers (docs/internals/proxy-secure.md) through the
# static binary: `traefikee start-data-node --standalone=FILE` with a plain and a TLS entry point
# (self-signed default certificate, curl -k), an inline python upstream that sends its own
# X-Frame-Options, Strict-Transport-Security and (on /loc) a Location. Checked: every response
# field on both entry points (STS and Public-Key-Pins on TLS only), the upstream's copies
# replaced, customResponseHeaders winning, sslRedirect 301 / sslTemporaryRedirect 307 with and
# without sslHost, sslProxyHeaders (X-Forwarded-Proto: https) suppressing the redirect and
# turning STS on, allowedHosts 500 "Bad Host" against 200, hostsProxyHeaders, isDevelopment,
# sslForceHost, the Location rewrite, a frontend without options untouched, and a keep-alive
# connection going from a secure frontend's answers to other frontends'.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"

cat >"$D/up.py" <<'EOF'
import json, socket, sys, threading
def serve(conn):
    f = conn.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            target = line.split()[1].decode()
            hdrs = []
            while True:
                h = f.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode().partition(":")
                hdrs.append([k.strip(), v.strip()])
            body = json.dumps({"target": target, "headers": hdrs}).encode()
            extra = "Location: http://loc.test/back\r\n" if target.startswith("/loc") else ""
            conn.sendall(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "X-Frame-Options: SAMEORIGIN\r\n"
                          "Strict-Transport-Security: max-age=1\r\n"
                          "X-Upstream: up\r\n%sContent-Length: %d\r\n\r\n"
                          % (extra, len(body))).encode() + body)
    except Exception:
        pass
    finally:
        conn.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(64)
print("PORT %d" % s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
spawn python3 "$D/up.py" >"$D/up.out" 2>&1
UP=$(upstream_port up) || { not_ok "upstream starts"; finish; }
read -r WEB SEC <<<"$(free_ports 2)"

cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["web", "websecure"],
  "entryPoints": {
    "web": { "address": "127.0.0.1:$WEB" },
    "websecure": { "address": "127.0.0.1:$SEC", "tls": { "certificates": [] } }
  },
  "frontends": {
    "hdrs": { "backend": "a", "routes": { "r": { "rule": "Host:hdrs.test" } },
      "headers": { "stsSeconds": 315360000, "stsIncludeSubdomains": true, "stsPreload": true,
        "frameDeny": true, "contentTypeNosniff": true, "browserXssFilter": true,
        "contentSecurityPolicy": "default-src 'self'", "referrerPolicy": "no-referrer",
        "publicKey": "pin-sha256=\"base64+primary==\"; max-age=5184000",
        "sslProxyHeaders": { "X-Forwarded-Proto": "https" } } },
    "custom": { "backend": "a", "routes": { "r": { "rule": "Host:custom.test" } },
      "headers": { "customFrameOptionsValue": "ALLOW-FROM https://x.test",
        "customBrowserXSSValue": "0", "frameDeny": true, "contentTypeNosniff": true,
        "customResponseHeaders": { "X-Content-Type-Options": "custom-wins", "X-Extra": "1" } } },
    "redir": { "backend": "a", "routes": { "r": { "rule": "Host:redir.test" } },
      "headers": { "sslRedirect": true, "sslProxyHeaders": { "X-Forwarded-Proto": "https" } } },
    "tmp": { "backend": "a", "routes": { "r": { "rule": "Host:tmp.test" } },
      "headers": { "sslRedirect": true, "sslTemporaryRedirect": true, "sslHost": "secure.test" } },
    "allowed": { "backend": "a", "routes": { "r": { "rule": "Host:allowed.test,other.test" } },
      "headers": { "allowedHosts": ["allowed.test"], "hostsProxyHeaders": ["X-Forwarded-Host"] } },
    "dev": { "backend": "a", "routes": { "r": { "rule": "Host:dev.test" } },
      "headers": { "isDevelopment": true, "sslRedirect": true, "allowedHosts": ["x.test"],
        "stsSeconds": 60, "forceSTSHeader": true, "publicKey": "pin", "frameDeny": true } },
    "force": { "backend": "a", "routes": { "r": { "rule": "Host:force.test,www.force.test" } },
      "headers": { "sslForceHost": true, "sslHost": "www.force.test" } },
    "loc": { "backend": "a", "routes": { "r": { "rule": "Host:loc.test" } },
      "headers": { "sslHost": "loc.test", "stsSeconds": 10, "forceSTSHeader": true } },
    "none": { "backend": "a", "routes": { "r": { "rule": "Host:none.test" } } },
    "fwd": { "backend": "a", "routes": { "r": { "rule": "Host:fwd.test" } },
      "auth": { "forward": { "address": "http://127.0.0.1:1/auth" } } }
  },
  "backends": { "a": { "servers": { "s1": { "url": "http://127.0.0.1:$UP" } } } }
}
EOF

spawn "$T" start-data-node --standalone="$D/doc.json" >"$D/tee.out" 2>&1
TEE=$SPAWNED
if wait_for 10 curl -s -o /dev/null -m 1 -H 'Host: none.test' "http://127.0.0.1:$WEB/" &&
  wait_for 10 curl -sk -o /dev/null -m 2 -H 'Host: none.test' "https://127.0.0.1:$SEC/"; then
  ok "data node serves the plain and the TLS entry point"
else
  not_ok "data node serves the plain and the TLS entry point ($(tail -3 "$D/tee.out"))"
  finish
fi

# req http|https HOST PATH [CURL ARGS...]: CODE, BODY; headers in $D/hdrs.
req() {
  local scheme=$1 host=$2 path=$3 port=$WEB; shift 3
  [ "$scheme" = https ] && port=$SEC
  CODE=$(curl -sk -m 10 -o "$D/body" -D "$D/hdrs.raw" -w '%{http_code}' -H "Host: $host" "$@" \
    "$scheme://127.0.0.1:$port$path")
  tr -d '\r' <"$D/hdrs.raw" >"$D/hdrs"
  BODY=$(cat "$D/body")
}
# hdr NAME: the first value of NAME in the last response; nhdr NAME: how many NAME fields.
hdr() { awk -v n="$1" 'tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}' "$D/hdrs"; }
nhdr() { grep -ic "^$1:" "$D/hdrs"; }

# ---- response fields, plain entry point
req http hdrs.test /p
check "plain: 200 through the upstream" test "$CODE" = 200 -a "$(hdr X-Upstream)" = up
check "plain: X-Frame-Options DENY replaces the upstream's SAMEORIGIN (one field)" \
  test "$(hdr X-Frame-Options)" = DENY -a "$(nhdr X-Frame-Options)" = 1
check "plain: X-Content-Type-Options nosniff" test "$(hdr X-Content-Type-Options)" = nosniff
check "plain: X-XSS-Protection 1; mode=block" test "$(hdr X-XSS-Protection)" = "1; mode=block"
check "plain: Content-Security-Policy" test "$(hdr Content-Security-Policy)" = "default-src 'self'"
check "plain: Referrer-Policy" test "$(hdr Referrer-Policy)" = no-referrer
check "plain: no Public-Key-Pins (not SSL)" test "$(nhdr Public-Key-Pins)" = 0
check "plain: our STS not set, the upstream's max-age=1 passes (secure only sets it on SSL)" \
  test "$(hdr Strict-Transport-Security)" = max-age=1 -a "$(nhdr Strict-Transport-Security)" = 1

# ---- the same frontend over TLS
req https hdrs.test /p
check "TLS: 200" test "$CODE" = 200
check "TLS: Strict-Transport-Security max-age=315360000; includeSubDomains; preload (one field)" \
  test "$(hdr Strict-Transport-Security)" = "max-age=315360000; includeSubDomains; preload" \
  -a "$(nhdr Strict-Transport-Security)" = 1
check "TLS: Public-Key-Pins" \
  test "$(hdr Public-Key-Pins)" = 'pin-sha256="base64+primary=="; max-age=5184000'
check "TLS: X-Frame-Options DENY, nosniff, XSS, CSP, Referrer-Policy" \
  test "$(hdr X-Frame-Options)|$(hdr X-Content-Type-Options)|$(hdr X-XSS-Protection)|$(hdr Referrer-Policy)" \
  = "DENY|nosniff|1; mode=block|no-referrer"

# ---- sslProxyHeaders make a plain request SSL
req http hdrs.test /p -H 'X-Forwarded-Proto: https'
check "plain + X-Forwarded-Proto: https: STS and Public-Key-Pins set (sslProxyHeaders)" \
  test "$(hdr Strict-Transport-Security)" = "max-age=315360000; includeSubDomains; preload" \
  -a "$(nhdr Public-Key-Pins)" = 1
req http hdrs.test /p -H 'X-Forwarded-Proto: HTTPS'
check "plain + X-Forwarded-Proto: HTTPS (values compare exactly): not SSL" \
  test "$(hdr Strict-Transport-Security)" = max-age=1

# ---- custom values and customResponseHeaders
req http custom.test /
check "customFrameOptionsValue wins over frameDeny" \
  test "$(hdr X-Frame-Options)" = "ALLOW-FROM https://x.test" -a "$(nhdr X-Frame-Options)" = 1
check "customBrowserXSSValue" test "$(hdr X-XSS-Protection)" = 0
check "customResponseHeaders override contentTypeNosniff (one field)" \
  test "$(hdr X-Content-Type-Options)" = custom-wins -a "$(nhdr X-Content-Type-Options)" = 1
check "customResponseHeaders still added" test "$(hdr X-Extra)" = 1

# ---- a frontend without options is untouched
req http none.test /
check "no options: upstream X-Frame-Options and STS kept, nothing added" \
  test "$(hdr X-Frame-Options)|$(hdr Strict-Transport-Security)|$(nhdr X-Content-Type-Options)|$(nhdr X-XSS-Protection)" \
  = "SAMEORIGIN|max-age=1|0|0"

# ---- sslRedirect
req http redir.test '/a/b?x=1&y=2'
check "sslRedirect: plain -> 301 Location https://redir.test/a/b?x=1&y=2 ($CODE $(hdr Location))" \
  test "$CODE" = 301 -a "$(hdr Location)" = "https://redir.test/a/b?x=1&y=2"
check "sslRedirect: the upstream was not asked" test -z "$(hdr X-Upstream)"
req http "redir.test:$WEB" /p
check "sslRedirect keeps the Host's port (as unrolled/secure)" \
  test "$(hdr Location)" = "https://redir.test:$WEB/p"
req https redir.test /a
check "sslRedirect: TLS request -> 200" test "$CODE" = 200 -a "$(hdr X-Upstream)" = up
req http redir.test /a -H 'X-Forwarded-Proto: https'
check "sslRedirect: plain + X-Forwarded-Proto: https (sslProxyHeaders) -> 200" test "$CODE" = 200
req http redir.test /a -H 'X-Forwarded-Proto: http'
check "sslRedirect: plain + X-Forwarded-Proto: http -> 301" test "$CODE" = 301
req http redir.test /a -X POST -d 'x=1'
check "sslRedirect: a POST is redirected too (301)" test "$CODE" = 301
req http tmp.test '/login?next=/x'
check "sslTemporaryRedirect + sslHost: 307 Location https://secure.test/login?next=/x ($CODE $(hdr Location))" \
  test "$CODE" = 307 -a "$(hdr Location)" = "https://secure.test/login?next=/x"
req https tmp.test /login
check "sslHost without sslForceHost: a TLS request for another host passes (200)" test "$CODE" = 200

# ---- allowedHosts and hostsProxyHeaders
req http allowed.test /
check "allowedHosts: allowed.test -> 200" test "$CODE" = 200
req http ALLOWED.test /
check "allowedHosts: case-insensitive -> 200" test "$CODE" = 200
req http other.test /
check "allowedHosts: other.test -> 500 \"Bad Host\"" test "$CODE" = 500 -a "$BODY" = "Bad Host"
req https other.test /
check "allowedHosts: other.test over TLS -> 500" test "$CODE" = 500
req http "allowed.test:$WEB" /
check "allowedHosts: the Host's port counts (allowed.test:port -> 500)" test "$CODE" = 500
req http other.test / -H 'X-Forwarded-Host: allowed.test'
check "hostsProxyHeaders: X-Forwarded-Host allowed.test -> 200" test "$CODE" = 200
req http allowed.test / -H 'X-Forwarded-Host: evil.test'
check "hostsProxyHeaders: X-Forwarded-Host evil.test wins over Host -> 500" test "$CODE" = 500

# ---- isDevelopment
req http dev.test /
check "isDevelopment: no allowedHosts refusal, no sslRedirect (200)" test "$CODE" = 200
check "isDevelopment: no STS even with forceSTSHeader (upstream's kept), no Public-Key-Pins" \
  test "$(hdr Strict-Transport-Security)" = max-age=1 -a "$(nhdr Public-Key-Pins)" = 0
check "isDevelopment: frameDeny still applies" test "$(hdr X-Frame-Options)" = DENY
req https dev.test /
check "isDevelopment over TLS: no STS of ours, no Public-Key-Pins" \
  test "$(hdr Strict-Transport-Security)" = max-age=1 -a "$(nhdr Public-Key-Pins)" = 0

# ---- sslForceHost
req https force.test '/p?q'
check "sslForceHost: TLS request for force.test -> 301 https://www.force.test/p?q" \
  test "$CODE" = 301 -a "$(hdr Location)" = "https://www.force.test/p?q"
req https www.force.test /p
check "sslForceHost: www.force.test -> 200" test "$CODE" = 200

# ---- forceSTSHeader and the Location rewrite (sslHost loc.test)
req http loc.test /loc
check "forceSTSHeader: STS max-age=10 on plain HTTP" test "$(hdr Strict-Transport-Security)" = max-age=10
check "plain request: the upstream's Location http://loc.test/back kept" \
  test "$(hdr Location)" = http://loc.test/back
req https loc.test /loc
check "TLS request: the upstream's Location http://loc.test/back becomes https://" \
  test "$(hdr Location)" = https://loc.test/back -a "$(nhdr Location)" = 1

# ---- one keep-alive connection across frontends: nothing carries over
curl -sk -m 10 -D "$D/ka.hdrs" -o "$D/ka.body" \
  -H 'Host: other.test' "http://127.0.0.1:$WEB/1" \
  --next -sk -m 10 -D "$D/ka2.hdrs" -o "$D/ka2.body" -w '%{num_connects}' \
  -H 'Host: fwd.test' "http://127.0.0.1:$WEB/2" >"$D/ka.n"
check "keep-alive: Bad Host, then another frontend's 500 on the same connection says Internal Server Error" \
  test "$(cat "$D/ka.body")|$(cat "$D/ka2.body")|$(cat "$D/ka.n")" = "Bad Host|Internal Server Error|0"
curl -sk -m 10 -D "$D/kb.hdrs" -o /dev/null -H 'Host: hdrs.test' "https://127.0.0.1:$SEC/1" \
  --next -sk -m 10 -D "$D/kb2.hdrs" -o /dev/null -H 'Host: none.test' "https://127.0.0.1:$SEC/2"
check "keep-alive: after a secure frontend, a plain one gets the upstream's fields only" \
  test "$(grep -ic '^x-frame-options: DENY' "$D/kb.hdrs")|$(grep -ic '^x-frame-options: SAMEORIGIN' "$D/kb2.hdrs")|$(grep -ic '^public-key-pins' "$D/kb2.hdrs")" = "1|1|0"

check "data node still running" kill -0 "$TEE"
finish
