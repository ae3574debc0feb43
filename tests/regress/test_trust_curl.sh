#!/usr/bin/env bash
# The control API's mutual TLS seen from stock tools: a bootstrap node on loopback answers
# curl with the admin credentials it wrote (--mtlscertsoutputdir); without a client
# certificate the control API refuses the handshake (joiners use --listen, not this port);
# a client certificate from another CA makes the handshake fail (the server drops it before
# its Finished); openssl verifies admin.pem against ca.pem.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
LISTEN=127.0.0.1:$((BASE + 1))
CAPI=127.0.0.1:$((BASE + 2))
SOCK="$D/b.sock"
C="$D/creds"

leader_is() { "$T" list-nodes --traefikeesocket="$SOCK" 2>/dev/null | grep -q "(Current Leader)"; }

for tool in curl openssl; do
  command -v "$tool" >/dev/null || { not_ok "$tool is installed"; finish; }
done

spawn "$T" bootstrap --licensekey=fakeLicense --statedir="$D/state" --traefikeesocket="$SOCK" \
  --listen="$LISTEN" --advertise="$LISTEN" --controlapi.listen="$CAPI" --name=bootstrap \
  --mtlscertsoutputdir="$C" >"$D/boot.log" 2>&1
if wait_for 20 leader_is && [ -s "$C/admin.key" ]; then ok "bootstrap node leads within 20 s"
else not_ok "bootstrap node leads within 20 s"; cat "$D/boot.log"; finish; fi

# 1. The admin certificate: a verified mTLS handshake and the node list as JSON.
run curl -sS --max-time 5 -w '\n%{http_code} %{content_type}' --cacert "$C/ca.pem" \
  --cert "$C/admin.pem" --key "$C/admin.key" "https://$CAPI/nodes"
check "curl with admin.pem: exit 0" [ "$RC" -eq 0 ]
check "curl with admin.pem: 200 application/json" has "$OUT" $'\n200 application/json'
check "curl with admin.pem: the node list names the seed" has "$OUT" '"name":"bootstrap"'
body=${OUT%$'\n'*}
check "curl with admin.pem: the body is valid JSON" \
  bash -c 'printf "%s" "$1" | python3 -c "import json,sys; json.load(sys.stdin)"' _ "$body"

# 2. No client certificate: the control API (--controlapi.listen) requires one, so the
#    handshake is refused (curl exit 35), no HTTP status at all. Joiners, who have no
#    certificate yet, use the cluster port (--listen) instead.
run curl -sS --max-time 5 -w '\n%{http_code}' --cacert "$C/ca.pem" "https://$CAPI/nodes"
check "curl without a client certificate: refused during the handshake (curl exit $RC)" \
  [ "$RC" -ne 0 ] && [ "$RC" -ne 28 ]
check "curl without a client certificate: no HTTP status (000)" [ "${OUT##*$'\n'}" = 000 ]

# 3. A client certificate from another CA: the handshake fails, no HTTP status at all.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/O=other/CN=other CA" \
  -keyout "$D/oca.key" -out "$D/oca.pem" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=traefikee/OU=admin/CN=admin" \
  -keyout "$D/evil.key" -out "$D/evil.csr" >/dev/null 2>&1
printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n' >"$D/evil.ext"
openssl x509 -req -in "$D/evil.csr" -CA "$D/oca.pem" -CAkey "$D/oca.key" -CAcreateserial \
  -days 1 -extfile "$D/evil.ext" -out "$D/evil.pem" >/dev/null 2>&1
check "a foreign admin certificate was made with openssl" [ -s "$D/evil.pem" ]
run curl -sS --max-time 5 -w '\n%{http_code}' --cacert "$C/ca.pem" --cert "$D/evil.pem" \
  --key "$D/evil.key" "https://$CAPI/nodes"
check "curl with another CA's certificate: curl fails" [ "$RC" -ne 0 ]
check "curl with another CA's certificate: no HTTP answer" [ "${OUT##*$'\n'}" = "000" ]
check "curl with another CA's certificate: a TLS-level error" \
  bash -c 'printf "%s" "$1" | grep -Eqi "ssl|tls|alert|handshake|reset|recv"' _ "$ERR"

# 4. The credentials chain to the CA for OpenSSL too.
run openssl verify -CAfile "$C/ca.pem" "$C/admin.pem"
check "openssl verify -CAfile ca.pem admin.pem: OK" has "$OUT" "admin.pem: OK"
run openssl verify -CAfile "$C/ca.pem" "$D/evil.pem"
check "openssl verify rejects the foreign certificate" [ "$RC" -ne 0 ]

finish
