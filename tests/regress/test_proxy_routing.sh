#!/usr/bin/env bash
# Routing through the static binary: `traefikee start-data-node --standalone=FILE` serving a
# routing document (docs/internals/routing.md) with real upstreams (proxy_upstream.py) behind
# it. Rules and modifiers, priorities, passHostHeader, custom and X-Forwarded-* headers,
# hop-by-hop fields, redirects, whitelists, the access log line, and the start-up errors.
# Load balancing, stickiness, maxConn and health checks are in test_proxy_balance.sh.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

for n in s1 s2; do
  spawn python3 "$UP" --name="$n" >"$D/$n.out" 2>&1
done
S1=$(upstream_port s1) && S2=$(upstream_port s2) || { not_ok "upstreams start"; finish; }
read -r WEB RED REDP WL WLX WLOK UNTR TLSP TLSR CLOSED RED6 <<<"$(free_ports 11)"
# An IPv6 loopback entry point (redir6) when ::1 can be bound here; dropped otherwise.
HAVE6=0
python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null && HAVE6=1

# The document: placeholders @X@ are replaced by the ports chosen above.
cat >"$D/doc.tmpl" <<'EOF'
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["web"],
  "entryPoints": {
    "web":   { "address": "127.0.0.1:@WEB@" },
    "redir": { "address": "127.0.0.1:@RED@", "redirect": { "entryPoint": "web" } },
    "redirp": { "address": "127.0.0.1:@REDP@", "redirect": { "entryPoint": "web", "permanent": true } },
    "wl":    { "address": "127.0.0.1:@WL@", "whitelist": { "sourceRange": ["10.0.0.0/8"] } },
    "wlx":   { "address": "127.0.0.1:@WLX@",
               "whitelist": { "sourceRange": ["10.0.0.0/8"], "useXForwardedFor": true } },
    "wlok":  { "address": "127.0.0.1:@WLOK@", "whitelist": { "sourceRange": ["127.0.0.1/32"] } },
    "tls":   { "address": "127.0.0.1:@TLSP@", "tls": {} },
    "tlsr":  { "address": "127.0.0.1:@TLSR@", "redirect": { "entryPoint": "tls" } },
    "redir6": { "address": "[::1]:@RED6@", "redirect": { "entryPoint": "web" } },
    "untr":  { "address": "127.0.0.1:@UNTR@", "forwardedHeaders": { "trustedIPs": ["10.0.0.0/8"] } }
  },
  "frontends": {
    "epcatch": { "entryPoints": ["redir", "redirp", "wl", "wlx", "wlok", "untr", "tls"], "backend": "a",
                 "routes": { "r": { "rule": "PathPrefix:/" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "epcatch" } } },
    "host":    { "backend": "a", "routes": { "r": { "rule": "Host:a.example.com,b.example.com" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "host" } } },
    "hostport": { "backend": "a", "routes": { "r": { "rule": "Host:port.example.com:8080" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "hostport" } } },
    "hre":     { "backend": "a", "routes": { "r": { "rule": "HostRegexp:{sub:[a-z]+}.tmpl.example.com" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "hre" } } },
    "path":    { "backend": "a", "routes": { "r": { "rule": "Host:path.test;Path:/exact" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "path" } } },
    "spaced":  { "backend": "a", "routes": { "r": { "rule": " host : spaced.test ; pathprefix : /x " } },
                 "headers": { "customRequestHeaders": { "X-Fe": "spaced" } } },
    "ptpl":    { "backend": "a", "routes": { "r": { "rule": "Host:ptpl.test;Path:/users/{id:[0-9]+}" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "ptpl" } } },
    "prefix":  { "backend": "a", "routes": { "r": { "rule": "Host:prefix.test;PathPrefix:/app" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "prefix" } } },
    "strip":   { "backend": "a", "routes": { "r": { "rule": "Host:strip.test;PathStrip:/s" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "strip" } } },
    "pps":     { "backend": "a", "routes": { "r": { "rule": "Host:pps.test;PathPrefixStrip:/api,/api/v2" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "pps" } } },
    "method":  { "backend": "a", "routes": { "r": { "rule": "Host:method.test;Method:POST,PUT" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "method" } } },
    "hdr":     { "backend": "a", "routes": { "r": { "rule": "Host:hdr.test;Headers:X-Env,prod" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "hdr" } } },
    "hdrre":   { "backend": "a", "routes": { "r": { "rule": "Host:hdrre.test;HeadersRegexp:X-Id,^[0-9]+$" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "hdrre" } } },
    "query":   { "backend": "a", "routes": { "r": { "rule": "Host:query.test;Query:mode=fast,id={id:[0-9]+}" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "query" } } },
    "addp":    { "backend": "a", "routes": { "r": { "rule": "Host:addp.test;AddPrefix:/pre" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "addp" } } },
    "repl":    { "backend": "a", "routes": { "r": { "rule": "Host:repl.test;ReplacePath:/new" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "repl" } } },
    "rre":     { "backend": "a", "routes": { "r": { "rule": "Host:rre.test;ReplacePathRegex: ^/api/(.*) /v1/$1" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "rre" } } },
    "order":   { "backend": "a", "routes": { "r": { "rule": "AddPrefix:/v2;Host:order.test;PathPrefixStrip:/api" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "order" } } },
    "andor":   { "backend": "a", "routes": { "r1": { "rule": "Host:or.test;Method:GET" },
                                             "r2": { "rule": "PathPrefix:/a,/b" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "andor" } } },
    "prio-lo": { "backend": "a", "priority": 1, "routes": { "r": { "rule": "Host:prio.test;PathPrefix:/x" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "prio-lo" } } },
    "prio-hi": { "backend": "a", "priority": 50, "routes": { "r": { "rule": "Host:prio.test" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "prio-hi" } } },
    "prio2-exp": { "backend": "a", "priority": 30, "routes": { "r": { "rule": "Host:prio2.test" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "prio2-exp" } } },
    "prio2-len": { "backend": "a", "routes": { "r": { "rule": "Host:prio2.test;PathPrefix:/x" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "prio2-len" } } },
    "len-short": { "backend": "a", "routes": { "r": { "rule": "Host:len.test" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "len-short" } } },
    "len-long": { "backend": "a", "routes": { "r": { "rule": "Host:len.test;PathPrefix:/deep" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "len-long" } } },
    "nohost":  { "backend": "a", "passHostHeader": false, "routes": { "r": { "rule": "Host:nohost.test" } } },
    "cust":    { "backend": "a", "routes": { "r": { "rule": "Host:cust.test" } },
                 "headers": { "customRequestHeaders": { "X-Added": "yes", "User-Agent": "" },
                              "customResponseHeaders": { "X-Resp": "r1", "X-Upstream": "" } } },
    "custhost": { "backend": "a", "routes": { "r": { "rule": "Host:custhost.test" } },
                 "headers": { "customRequestHeaders": { "Host": "over.test" } } },
    "custframe": { "backend": "a", "routes": { "r": { "rule": "Host:custframe.test" } },
                 "headers": { "customRequestHeaders": { "Content-Length": "3", "Transfer-Encoding": "chunked",
                                                        "Connection": "close", "TE": "trailers" },
                              "customResponseHeaders": { "Content-Length": "2", "Transfer-Encoding": "chunked",
                                                         "Keep-Alive": "timeout=1" } } },
    "rd301":   { "backend": "a", "routes": { "r": { "rule": "Host:rd.test" } },
                 "redirect": { "regex": "^http://rd\\.test/(.*)$", "replacement": "http://new.test/$1",
                               "permanent": true } },
    "rd302":   { "backend": "a", "routes": { "r": { "rule": "Host:rd2.test" } },
                 "redirect": { "regex": "^http://rd2\\.test/(.*)$", "replacement": "http://new.test/x/$1" } },
    "rdnm":    { "backend": "a", "routes": { "r": { "rule": "Host:rdnm.test" } },
                 "headers": { "customRequestHeaders": { "X-Fe": "rdnm" } },
                 "redirect": { "regex": "^http://rdnm\\.test/only/(.*)$", "replacement": "http://z.test/$1" } },
    "rdlocal": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/rdlocal/" } },
                 "redirect": { "regex": "^http://([^/]*)/rdlocal/(.*)$", "replacement": "http://$1/moved/$2" } },
    "rdep":    { "backend": "a", "routes": { "r": { "rule": "Host:rdep.test" } },
                 "redirect": { "entryPoint": "wlok" } },
    "wlok":    { "backend": "a", "routes": { "r": { "rule": "Host:wlok.test" } },
                 "whitelist": { "sourceRange": ["127.0.0.1/32"] } },
    "wlno":    { "backend": "a", "routes": { "r": { "rule": "Host:wlno.test" } },
                 "whitelist": { "sourceRange": ["10.0.0.0/8"] } },
    "wlxff":   { "backend": "a", "routes": { "r": { "rule": "Host:wlxff.test" } },
                 "whitelist": { "sourceRange": ["10.0.0.0/8"], "useXForwardedFor": true } },
    "empty":   { "backend": "empty", "routes": { "r": { "rule": "Host:empty.test" } } },
    "dead":    { "backend": "dead", "routes": { "r": { "rule": "Host:dead.test" } } }
  },
  "backends": {
    "a":     { "servers": { "s1": { "url": "http://127.0.0.1:@S1@" } } },
    "empty": { "servers": {} },
    "dead":  { "servers": { "d": { "url": "http://127.0.0.1:@CLOSED@" } } }
  }
}
EOF
sed -e "s/@WEB@/$WEB/; s/@RED@/$RED/; s/@REDP@/$REDP/; s/@WL@/$WL/; s/@WLX@/$WLX/" \
    -e "s/@WLOK@/$WLOK/; s/@UNTR@/$UNTR/; s/@TLSP@/$TLSP/; s/@TLSR@/$TLSR/; s/@S1@/$S1/; s/@S2@/$S2/; s/@CLOSED@/$CLOSED/" \
    -e "s/@RED6@/$RED6/" "$D/doc.tmpl" >"$D/doc.json"
[ "$HAVE6" = 1 ] || sed -i '/"redir6"/d' "$D/doc.json"

ALOG="$D/access.log"
spawn "$T" start-data-node --standalone="$D/doc.json" --accesslog.filepath="$ALOG" \
  >"$D/tee.out" 2>&1
TEE=$SPAWNED

# req HOST PATH [CURL ARGS...] against the web entry point (or $EP_PORT when set):
# CODE, BODY (file $D/body); response headers in $D/hdrs.
req() {
  local host=$1 path=$2; shift 2
  CODE=$(curl -s -m 10 -o "$D/body" -D "$D/hdrs" -w '%{http_code}' -H "Host: $host" "$@" \
    "http://127.0.0.1:${EP_PORT:-$WEB}$path")
  BODY=$(<"$D/body")
}
# hdr NAME: the value of response header NAME (first), from the last req.
hdr() { awk -v n="$1" '{sub(/\r$/, "")} tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}' "$D/hdrs"; }
# seen target | seen NAME: the request target / the values (one a line) of header NAME (name
# case-insensitive) the upstream echoed in the last req's body (json.dumps: ["Name", "value"]).
# Pure bash: no process per lookup.
seen() {
  local rest=$BODY out='' sep='' re
  if [ "$1" = target ]; then
    re='"target": "([^"]*)"'
    [[ $rest =~ $re ]] && printf '%s\n' "${BASH_REMATCH[1]}"
    return 0
  fi
  re="\\[\"$1\", \"([^\"]*)\"\\]"
  shopt -s nocasematch
  while [[ $rest =~ $re ]]; do
    out+=$sep${BASH_REMATCH[1]}
    sep=$'\n'
    rest=${rest#*"${BASH_REMATCH[0]}"}
  done
  shopt -u nocasematch
  [ -n "$out" ] && printf '%s\n' "$out"
  return 0
}
# raw PORT DATA [ADDR]: the bytes DATA (printf escapes) on a fresh connection to ADDR
# (127.0.0.1) port PORT, the response read until the proxy closes: CODE, headers via hdr (the
# whole response is in $D/hdrs). For requests curl cannot make, such as one without a Host.
raw() {
  timeout 10 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "$3" >&3 && cat <&3' _ \
    "${3:-127.0.0.1}" "$1" "$2" >"$D/hdrs" 2>/dev/null
  CODE=$(awk 'NR == 1 {print $2; exit}' "$D/hdrs")
  BODY=
}
# routed DESC HOST PATH FE TARGET [CURL ARGS]: 200 through frontend FE with that upstream target.
routed() {
  local desc=$1 host=$2 path=$3 fe=$4 target=$5; shift 5
  req "$host" "$path" "$@"
  local gfe gt
  gfe=$(seen X-Fe); gt=$(seen target)
  if [ "$CODE" = 200 ] && [ "$gfe" = "$fe" ] && [ "$gt" = "$target" ]; then ok "$desc"
  else not_ok "$desc (got $CODE fe=$gfe target=$gt)"; fi
}
# status DESC WANT HOST PATH [CURL ARGS]
status() {
  local desc=$1 want=$2 host=$3 path=$4; shift 4
  req "$host" "$path" "$@"
  if [ "$CODE" = "$want" ]; then ok "$desc"; else not_ok "$desc (got $CODE, want $want)"; fi
}

# Ready when the web entry point answers (404 for an unknown host).
ready=0
for _ in $(seq 100); do
  c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' -H 'Host: nothing.test' "http://127.0.0.1:$WEB/" 2>/dev/null)
  [ "$c" = 404 ] && { ready=1; break; }
  kill -0 "$TEE" 2>/dev/null || break
  sleep 0.1
done
check "standalone data node serves the document" [ "$ready" = 1 ]
[ "$ready" = 1 ] || { sed "s/^/# /" "$D/tee.out"; finish; }
check "start-up log names the document applied" grep -q 'routing document applied' "$D/tee.out"

# --- rules ------------------------------------------------------------------------------
status "no matching frontend: 404" 404 nothing.test /x
check "404 body is Traefik's" [ "$BODY" = "404 page not found" ]
status "HTTP/1.0 without keep-alive: 404" 404 nothing.test /x --http1.0
check "HTTP/1.0 without keep-alive: a local response does not announce keep-alive" \
  [ "$(hdr Connection)" = close ]
status "Connection: close: 404" 404 nothing.test /x -H 'Connection: close'
check "Connection: close: the local response says close too" [ "$(hdr Connection)" = close ]
status "Connection: close: proxied 200" 200 a.example.com /x -H 'Connection: close'
check "Connection: close: the proxied response says close" [ "$(hdr Connection)" = close ]
routed "Host: first of several hosts" a.example.com /h host /h
routed "Host: second host, case-insensitive" B.Example.COM /h2 host /h2
routed "Host: a port on the request is ignored" a.example.com:8080 /h3 host /h3
routed "Host: a trailing dot on the request host is ignored" a.example.com. /h4 host /h4
status "Host: another host is 404" 404 c.example.com /h
routed "Host with a port: same host and port" port.example.com:8080 /p hostport /p
status "Host with a port: other port is 404" 404 port.example.com:9090 /p
status "Host with a port: no port is 404" 404 port.example.com /p
routed "HostRegexp template matches" abc.tmpl.example.com /t hre /t
routed "HostRegexp is case-insensitive" ABC.Tmpl.Example.com /t hre /t
status "HostRegexp template class refuses digits" 404 abc1.tmpl.example.com /t
status "HostRegexp needs the template part" 404 tmpl.example.com /t
routed "Path: the exact path" path.test /exact path /exact
routed "Path: the query does not count" path.test '/exact?q=1' path '/exact?q=1'
status "Path: a longer path is 404" 404 path.test /exact/more
routed "Path template: {id:[0-9]+}" ptpl.test /users/42 ptpl /users/42
status "Path template: a longer path is 404" 404 ptpl.test /users/42/x
status "Path template: letters are 404" 404 ptpl.test /users/ab
routed "matcher names case-insensitive, spaces trimmed" SPACED.test /x/1 spaced /x/1
routed "PathPrefix: under the prefix" prefix.test /app/x prefix /app/x
routed "PathPrefix: is a string prefix" prefix.test /apple prefix /apple
status "PathPrefix: elsewhere is 404" 404 prefix.test /other
routed "PathPrefix: percent-encoded path is compared decoded" prefix.test /%61pp/y prefix /%61pp/y

routed "PathStrip: the upstream sees /" strip.test /s strip /
check "PathStrip: X-Forwarded-Prefix is the stripped path" [ "$(seen X-Forwarded-Prefix)" = /s ]
status "PathStrip: is a whole-path match" 404 strip.test /s/x
routed "PathPrefixStrip: longest prefix stripped, query kept" pps.test '/api/v2/users?id=1' pps '/users?id=1'
check "PathPrefixStrip: X-Forwarded-Prefix /api/v2" [ "$(seen X-Forwarded-Prefix)" = /api/v2 ]
routed "PathPrefixStrip: shorter prefix" pps.test /api/list pps /list
check "PathPrefixStrip: X-Forwarded-Prefix /api" [ "$(seen X-Forwarded-Prefix)" = /api ]
routed "PathPrefixStrip: the bare prefix becomes /" pps.test /api pps /
check "X-Forwarded-Prefix is a single field" \
  [ "$(printf '%s' "$BODY" | grep -o '"X-Forwarded-Prefix"' | wc -l)" = 1 ]
routed "PathPrefixStrip: a client's X-Forwarded-Prefix is replaced" pps.test /api/z pps /z \
  -H 'X-Forwarded-Prefix: /evil'
check "only the proxy's X-Forwarded-Prefix arrives" \
  [ "$(seen X-Forwarded-Prefix)" = /api ]

routed "Method: POST" method.test /m method /m -X POST
routed "Method: PUT" method.test /m method /m -X PUT
status "Method: GET is 404" 404 method.test /m
routed "Headers: exact value" hdr.test /h hdr /h -H 'X-Env: prod'
status "Headers: other value is 404" 404 hdr.test /h -H 'X-Env: dev'
status "Headers: absent is 404" 404 hdr.test /h
routed "HeadersRegexp: matching value" hdrre.test /h hdrre /h -H 'X-Id: 12345'
status "HeadersRegexp: non-matching value is 404" 404 hdrre.test /h -H 'X-Id: 12a'
routed "Query: every pair present" query.test '/q?id=42&mode=fast' query '/q?id=42&mode=fast'
status "Query: wrong value is 404" 404 query.test '/q?mode=slow&id=42'
status "Query: template refuses letters" 404 query.test '/q?mode=fast&id=x'
status "Query: a missing pair is 404" 404 query.test '/q?mode=fast'
routed "AddPrefix: prepended" addp.test '/x?y=1' addp '/pre/x?y=1'
routed "ReplacePath: replaced, query kept" repl.test '/old/path?q=1' repl '/new?q=1'
check "ReplacePath: X-Replaced-Path is the path before" [ "$(seen X-Replaced-Path)" = /old/path ]
routed "ReplacePathRegex: \$1 substituted" rre.test '/api/foo/bar?x=1' rre '/v1/foo/bar?x=1'
check "ReplacePathRegex: X-Replaced-Path is the path before" [ "$(seen X-Replaced-Path)" = /api/foo/bar ]
routed "modifiers in Traefik's order (strip, then AddPrefix) whatever the text order" \
  order.test /api/x order /v2/x
routed "';' AND and ',' OR: GET /a" or.test /a/1 andor /a/1
routed "',' OR: GET /b" or.test /b/1 andor /b/1
status "';' AND: POST /a is 404" 404 or.test /a/1 -X POST
status "routes are ANDed: /c is 404" 404 or.test /c
routed "explicit priority beats a longer rule" prio.test /x/1 prio-hi /x/1
# "Host:prio2.test;PathPrefix:/x" is 29 bytes: explicit 30 is above it.
routed "explicit priority 30 beats a default of 29 (rule length)" prio2.test /x/1 prio2-exp /x/1
routed "default priority: the longer rule first" len.test /deep/1 len-long /deep/1
routed "default priority: the shorter rule for the rest" len.test /shallow len-short /shallow

# --- headers ----------------------------------------------------------------------------
req a.example.com /hh
check "passHostHeader default: upstream sees the client's Host" [ "$(seen Host)" = a.example.com ]
req nohost.test /hh
check "passHostHeader false: upstream sees the server's host:port" [ "$(seen Host)" = "127.0.0.1:$S1" ]
check "passHostHeader false: X-Forwarded-Host is the client's Host" [ "$(seen X-Forwarded-Host)" = nohost.test ]
req cust.test /c -A regress-agent
check "custom request header added" [ "$(seen X-Added)" = yes ]
check "custom request header \"\" removes it (User-Agent)" [ -z "$(seen User-Agent)" ]
check "custom response header added" [ "$(hdr X-Resp)" = r1 ]
check "custom response header \"\" removes the upstream's (X-Upstream)" [ -z "$(hdr X-Upstream)" ]
req custhost.test /ch
check "custom request Host: the upstream sees one Host field, the custom one" [ "$(seen Host)" = over.test ]
req custframe.test /cf --data-binary hello -m 5
check "custom framing/hop-by-hop request fields do not cross: the body arrives whole" \
  bash -c '[ "$1" = 200 ] && printf "%s" "$2" | grep -q "\"body_len\": 5,"' _ "$CODE" "$BODY"
check "custom framing request fields do not cross: one Content-Length, no Transfer-Encoding" \
  bash -c '[ "$1" = 5 ] && [ -z "$2" ] && [ -z "$3" ]' _ "$(seen Content-Length)" "$(seen Transfer-Encoding)" "$(seen TE)"
check "custom framing response fields are not sent: one Content-Length, no Transfer-Encoding" \
  bash -c '[ "$(grep -ci "^content-length:" "$1")" = 1 ] && ! grep -qi "^transfer-encoding:\|^keep-alive:" "$1"' _ "$D/hdrs"
req a.example.com /u
check "without custom headers the upstream's X-Upstream arrives" [ "$(hdr X-Upstream)" = s1 ]

req a.example.com:8080 /xf -H 'X-Forwarded-For: 192.0.2.7' \
  -H 'Connection: keep-alive, X-Hop' -H 'X-Hop: 1' -H 'Keep-Alive: timeout=5' \
  -H 'Proxy-Connection: keep-alive' -H 'TE: trailers' -H 'Upgrade: h2c' -H 'X-Keep: 1'
check "X-Forwarded-For: received list appended with the client" \
  [ "$(seen X-Forwarded-For)" = "192.0.2.7, 127.0.0.1" ]
check "X-Forwarded-Proto: http" [ "$(seen X-Forwarded-Proto)" = http ]
check "X-Forwarded-Host: the Host received" [ "$(seen X-Forwarded-Host)" = a.example.com:8080 ]
check "X-Forwarded-Port: the Host's port" [ "$(seen X-Forwarded-Port)" = 8080 ]
check "X-Forwarded-Server is set" [ -n "$(seen X-Forwarded-Server)" ]
check "X-Real-Ip: the client" [ "$(seen X-Real-Ip)" = 127.0.0.1 ]
for h in X-Hop Keep-Alive Proxy-Connection TE Upgrade; do
  check "hop-by-hop $h not forwarded" [ -z "$(seen "$h")" ]
done
check "Connection: the names it listed are not forwarded" hasnt "$(seen Connection)" X-Hop
check "an end-to-end field crosses (X-Keep)" [ "$(seen X-Keep)" = 1 ]
req a.example.com /xf2
check "X-Forwarded-For without a received list: the client only" [ "$(seen X-Forwarded-For)" = 127.0.0.1 ]
check "X-Forwarded-Port: 80 when the Host has no port" [ "$(seen X-Forwarded-Port)" = 80 ]

EP_PORT=$UNTR req x.test /xf3 -H 'X-Forwarded-For: 192.0.2.7' -H 'X-Forwarded-Proto: https' \
  -H 'X-Forwarded-Host: evil.test'
check "forwardedHeaders.trustedIPs without the client: received X-Forwarded-For dropped" \
  [ "$(seen X-Forwarded-For)" = 127.0.0.1 ]
check "forwardedHeaders.trustedIPs without the client: X-Forwarded-Proto/Host are the proxy's" \
  bash -c '[ "$1" = http ] && [ "$2" = x.test ]' _ "$(seen X-Forwarded-Proto)" "$(seen X-Forwarded-Host)"
req a.example.com /xf4 -H 'X-Forwarded-Proto: https'
check "forwardedHeaders insecure by default: a received X-Forwarded-Proto is kept" \
  [ "$(seen X-Forwarded-Proto)" = https ]

# --- redirects --------------------------------------------------------------------------
status "frontend redirect permanent: 301" 301 rd.test '/a/b?c=d'
check "frontend redirect: Location from regex/replacement" [ "$(hdr Location)" = 'http://new.test/a/b?c=d' ]
check "frontend redirect: upstream not asked" hasnt "$BODY" '"server"'
status "frontend redirect permanent, PUT: 308" 308 rd.test /a -X PUT
routed "frontend redirect: a regex that does not match forwards" rdnm.test /other rdnm /other
status "frontend redirect: the regex matching redirects" 302 rdnm.test /only/yes
check "frontend redirect: ... to its replacement" [ "$(hdr Location)" = http://z.test/yes ]
status "frontend redirect not permanent: 302" 302 rd2.test /z
check "frontend redirect 302: Location" [ "$(hdr Location)" = 'http://new.test/x/z' ]
status "frontend redirect not permanent, POST: 307" 307 rd2.test /z -X POST
status "frontend redirect to an entry point: 302" 302 rdep.test '/e?f=g'
check "frontend redirect to an entry point: Location on its port" \
  [ "$(hdr Location)" = "http://rdep.test:$WLOK/e?f=g" ]
EP_PORT=$RED status "entry-point redirect: 302" 302 "127.0.0.1:$RED" '/p/q?r=s'
check "entry-point redirect: Location names the other port, same path and query" \
  [ "$(hdr Location)" = "http://127.0.0.1:$WEB/p/q?r=s" ]
EP_PORT=$REDP status "entry-point redirect permanent: 301" 301 "localhost:$REDP" /p
check "entry-point redirect permanent: Location" [ "$(hdr Location)" = "http://localhost:$WEB/p" ]
EP_PORT=$RED status "entry-point redirect, POST: 307" 307 "127.0.0.1:$RED" /p -X POST
EP_PORT=$REDP status "entry-point redirect permanent, POST: 308" 308 "127.0.0.1:$REDP" /p -X POST
EP_PORT=$TLSR status "entry-point redirect to a TLS entry point: 302" 302 tls.test '/t?u=v'
check "entry-point redirect to TLS: Location https:// on the TLS port" \
  [ "$(hdr Location)" = "https://tls.test:$TLSP/t?u=v" ]
c=$(curl -s -k -m 10 -L -o "$D/body" -w '%{http_code}' "http://127.0.0.1:$TLSR/tf")
BODY=$(<"$D/body")
check "entry-point redirect to TLS followed (default certificate): 200 through TLS" [ "$c" = 200 ]
check "over TLS: X-Forwarded-Proto https, X-Forwarded-Port the Host's" \
  bash -c '[ "$1" = https ] && [ "$2" = "$3" ]' _ "$(seen X-Forwarded-Proto)" "$(seen X-Forwarded-Port)" "$TLSP"
curl -s -k -m 10 -o "$D/body" -H 'Host: tls.test' "https://127.0.0.1:$TLSP/t2"
BODY=$(<"$D/body")
check "over TLS: X-Forwarded-Port 443 when the Host has no port" [ "$(seen X-Forwarded-Port)" = 443 ]
c=$(curl -s -m 10 -L -o "$D/body" -w '%{http_code}' "http://127.0.0.1:$RED/follow")
check "entry-point redirect followed: 404 from the web entry point" [ "$c" = 404 ]

# --- whitelists -------------------------------------------------------------------------
status "frontend whitelist 127.0.0.1/32: allowed" 200 wlok.test /w
status "frontend whitelist 10.0.0.0/8: 403" 403 wlno.test /w
check "whitelist refusal: upstream not asked" hasnt "$BODY" '"server"'
status "frontend whitelist 10.0.0.0/8 ignores X-Forwarded-For" 403 wlno.test /w -H 'X-Forwarded-For: 10.1.2.3'
status "frontend useXForwardedFor: X-Forwarded-For inside: allowed" 200 wlxff.test /w -H 'X-Forwarded-For: 10.1.2.3'
status "frontend useXForwardedFor: X-Forwarded-For outside: 403" 403 wlxff.test /w -H 'X-Forwarded-For: 192.0.2.1'
status "frontend useXForwardedFor: no X-Forwarded-For: 403" 403 wlxff.test /w
EP_PORT=$WL status "entry-point whitelist 10.0.0.0/8: 403" 403 x.test /w
EP_PORT=$WLOK status "entry-point whitelist 127.0.0.1/32: allowed" 200 x.test /w
check "entry-point whitelist allowed: reaches the frontend" [ "$(seen X-Fe)" = epcatch ]
EP_PORT=$WLX status "entry-point useXForwardedFor: inside: allowed" 200 x.test /w -H 'X-Forwarded-For: 10.9.9.9'
EP_PORT=$WLX status "entry-point useXForwardedFor: outside: 403" 403 x.test /w -H 'X-Forwarded-For: 172.16.0.1'

# --- errors -----------------------------------------------------------------------------
status "backend without servers: 503" 503 empty.test /e
status "only server's port closed: 502" 502 dead.test /d

# --- access log -------------------------------------------------------------------------
status "access log: a 200" 200 a.example.com /al/ok -A regress-al-ok
okbytes=$(wc -c <"$D/body")
status "access log: a 404" 404 nothing.test /al/miss -A regress-al-404
status "access log: a 502" 502 dead.test /al/dead -A regress-al-502
status "access log: a 403" 403 wlno.test /al/wl -A regress-al-403
status "access log: a 302" 302 rd2.test /al/rd -A regress-al-302
status "access log: a slow 200" 200 a.example.com /_delay/300 -A regress-al-slow
for _ in $(seq 50); do
  [ "$(grep -c 'regress-al-' "$ALOG" 2>/dev/null)" -ge 6 ] && break
  sleep 0.1
done
for ua in ok 404 502 403 302 slow; do
  check "access log: one line for the $ua request" [ "$(grep -c "\"regress-al-$ua\"" "$ALOG")" = 1 ]
done
CLF='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}\] '
check "access log 200: common format, status, frontend, backend URL, duration" \
  grep -qE "$CLF\"GET /al/ok HTTP/1.1\" 200 [0-9]+ \"-\" \"regress-al-ok\" [0-9]+ \"host\" \"http://127.0.0.1:$S1\" [0-9]+ms\$" "$ALOG"
check "access log 404: no frontend, no backend" \
  grep -qE "$CLF\"GET /al/miss HTTP/1.1\" 404 [0-9]+ \"-\" \"regress-al-404\" [0-9]+ \"-\" \"-\" [0-9]+ms\$" "$ALOG"
check "access log 502: the frontend and the dead backend URL" \
  grep -qE "$CLF\"GET /al/dead HTTP/1.1\" 502 [0-9]+ \"-\" \"regress-al-502\" [0-9]+ \"dead\" \"http://127.0.0.1:$CLOSED\" [0-9]+ms\$" "$ALOG"
check "access log 403 and 302: the frontend, no backend URL" \
  bash -c 'grep -q "\" 403 [0-9]* \"-\" \"regress-al-403\" [0-9]* \"wlno\" \"-\" [0-9]*ms\$" "$1" &&
           grep -q "\" 302 [0-9]* \"-\" \"regress-al-302\" [0-9]* \"rd302\" \"-\" [0-9]*ms\$" "$1"' _ "$ALOG"
slow_ms=$(grep '"regress-al-slow"' "$ALOG" | sed -E 's/.* ([0-9]+)ms$/\1/')
check "access log: duration of a 300 ms request is >= 300ms (got ${slow_ms:-none})" \
  bash -c '[ "$1" -ge 300 ] && [ "$1" -lt 10000 ]' _ "${slow_ms:-0}"
n1=$(grep '"regress-al-ok"' "$ALOG" | awk '{print $(NF-3)}')
n2=$(grep '"regress-al-404"' "$ALOG" | awk '{print $(NF-3)}')
check "access log: the request count goes up by one per request ($n1, $n2)" \
  [ "${n2:-0}" = "$((${n1:-0} + 1))" ]
check "access log: the size is the body size sent ($okbytes)" \
  [ "$(grep '"regress-al-ok"' "$ALOG" | awk '{print $10}')" = "$okbytes" ]
check "access log: no empty or partial lines" bash -c "! grep -qvE '^127\\.0\\.0\\.1 - .* [0-9]+ms\$' '$ALOG'"

# --- redirects without a Host -----------------------------------------------------------
# No Host (HTTP/1.0) or an empty one: the Location names the address the client connected to.
# After the access log checks: the IPv6 client's lines do not start with 127.0.0.1.
raw "$RED" 'GET /p/q?r=s HTTP/1.0\r\n\r\n'
check "entry-point redirect, HTTP/1.0 without Host: 302 (got $CODE)" [ "$CODE" = 302 ]
check "entry-point redirect without Host: Location is the local address on the target port" \
  [ "$(hdr Location)" = "http://127.0.0.1:$WEB/p/q?r=s" ]
raw "$RED" 'GET /p HTTP/1.0\r\nHost: h10.test\r\n\r\n'
check "entry-point redirect, HTTP/1.0 with a Host: Location uses the Host (got $(hdr Location))" \
  [ "$(hdr Location)" = "http://h10.test:$WEB/p" ]
raw "$RED" 'GET /e HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n'
check "entry-point redirect, empty Host: Location is the local address (got $CODE $(hdr Location))" \
  [ "$(hdr Location)" = "http://127.0.0.1:$WEB/e" ]
raw "$TLSR" 'GET /t?u=v HTTP/1.0\r\n\r\n'
check "entry-point redirect to TLS without Host: https:// local address, TLS port" \
  [ "$(hdr Location)" = "https://127.0.0.1:$TLSP/t?u=v" ]
c=$(curl -s -k -m 10 -o /dev/null -w '%{http_code}' -H 'Host: tls.test' "$(hdr Location)")
check "entry-point redirect to TLS without Host: that Location answers through TLS (got $c)" [ "$c" = 200 ]
raw "$WEB" 'GET /rdlocal/x?y=1 HTTP/1.0\r\n\r\n'
check "regex redirect without Host: the URL it rewrites names the local address and port" \
  bash -c '[ "$1" = 302 ] && [ "$2" = "$3" ]' _ "$CODE" "$(hdr Location)" "http://127.0.0.1:$WEB/moved/x?y=1"
raw "$WEB" 'GET /rdlocal/x HTTP/1.0\r\nHost: rl.test:81\r\n\r\n'
check "regex redirect with a Host: the URL it rewrites has that Host" \
  [ "$(hdr Location)" = "http://rl.test:81/moved/x" ]
if [ "$HAVE6" = 1 ]; then
  raw "$RED6" 'GET /v6?a=b HTTP/1.0\r\n\r\n' ::1
  check "IPv6 entry-point redirect without Host: 302 (got $CODE)" [ "$CODE" = 302 ]
  check "IPv6 entry-point redirect without Host: Location [::1] on the target port (got $(hdr Location))" \
    [ "$(hdr Location)" = "http://[::1]:$WEB/v6?a=b" ]
  raw "$RED6" 'GET /v6 HTTP/1.0\r\nHost: [2001:db8::7]:81\r\n\r\n' ::1
  check "IPv6 entry-point redirect with a Host: Location from the Host (got $(hdr Location))" \
    [ "$(hdr Location)" = "http://[2001:db8::7]:$WEB/v6" ]
else
  ok "# SKIP IPv6 redirect checks: ::1 cannot be bound here"
fi

# --- reload with SIGHUP keeps serving; a bad document is refused and the old one stays ---
sed 's/"Host:a.example.com,b.example.com"/"Host:a.example.com,b.example.com,c.example.com"/' \
  "$D/doc.json" >"$D/doc.new" && mv "$D/doc.new" "$D/doc.json"
kill -HUP "$TEE"
c=
for _ in $(seq 50); do
  c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' -H 'Host: c.example.com' "http://127.0.0.1:$WEB/r")
  [ "$c" = 200 ] && break
  sleep 0.1
done
check "SIGHUP: the re-read document routes the new host" [ "$c" = 200 ]
cp "$D/doc.json" "$D/doc.good"
sed 's/"Host:rd.test"/"Hots:rd.test"/' "$D/doc.good" >"$D/doc.json"
kill -HUP "$TEE"
for _ in $(seq 50); do grep -q 'Hots' "$D/tee.out" && break; sleep 0.1; done
check "SIGHUP with a bad rule: the error names the key" \
  grep -q 'frontends.rd301.routes.r.rule' "$D/tee.out"
status "SIGHUP with a bad rule: the running document stays" 200 c.example.com /r
check "SIGHUP with a bad rule: the node keeps running" kill -0 "$TEE"

# --- start-up errors --------------------------------------------------------------------
run timeout 10 "$T" start-data-node --standalone="$D/no-such-file.json"
check "missing document: exit 1" [ "$RC" = 1 ]
check "missing document: the message names the file" has "$ERR$OUT" "no-such-file.json"
printf '{"version": 1, "revision": 1, "frontends": {' >"$D/bad.json"
run timeout 10 "$T" start-data-node --standalone="$D/bad.json"
check "invalid JSON: exit 1" [ "$RC" = 1 ]
check "invalid JSON: a message" [ -n "$ERR$OUT" ]
sed 's/"passHostHeader": false/"passHostHeadr": false/' "$D/doc.good" >"$D/badkey.json"
run timeout 10 "$T" start-data-node --standalone="$D/badkey.json"
check "unknown key: exit 1" [ "$RC" = 1 ]
check "unknown key: the message names it" \
  bash -c 'printf "%s" "$1" | grep -q "frontends\.nohost.*passHostHeadr"' _ "$ERR$OUT"
sed 's/"backend": "dead"/"backend": "nosuch"/' "$D/doc.good" >"$D/badbe.json"
run timeout 10 "$T" start-data-node --standalone="$D/badbe.json"
check "unknown backend: exit 1, message names the frontend" \
  bash -c '[ "$1" = 1 ] && printf "%s" "$2" | grep -q "frontends.dead.backend"' _ "$RC" "$ERR$OUT"
run timeout 10 "$T" start-data-node --standalone="$D/doc.good" --limit no_such_limit=1
check "unknown --limit: exit 2" [ "$RC" = 2 ]
check "unknown --limit: the message names it" has "$ERR$OUT" "no_such_limit"
run timeout 10 "$T" start-data-node --standalone="$D/doc.good" --limit client_header_timeout=soon
check "bad --limit value: exit 2" [ "$RC" = 2 ]
run timeout 10 "$T" start-data-node --standalone="$D/doc.good" --limit client_header_timeout
check "--limit without =VALUE: exit 2" [ "$RC" = 2 ]

finish
