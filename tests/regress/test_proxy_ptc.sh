#!/usr/bin/env bash
# test_proxy_ptc.sh — frontend passTLSCert / passTLSClientCert through
# `traefikee start-data-node --standalone` (docs/internals/proxy-ptc.md): a mutual-TLS entry point
# (clientCA required), an optional one and a plain one; a client certificate made here by openssl
# with every subject field and every SAN kind; the upstream (proxy_upstream.py) echoes the fields
# it received. The expected values are derived independently, in Python, from `openssl x509`'s
# own printout of the certificate (subject, issuer, dates, SANs) and from its DER.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$REGRESS_TMP
C=$T/certs
DOC="$T/routing.json"
mkdir -p "$C"

# ---- certificates (ECDSA P-256)
mkca() { # NAME SUBJECT
  openssl ecparam -genkey -name prime256v1 -noout -out "$C/$1.key" 2>/dev/null &&
    openssl req -x509 -new -key "$C/$1.key" -subj "$2" -days 30 -out "$C/$1.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
}
mkleaf() { # NAME SUBJECT SAN CA
  openssl ecparam -genkey -name prime256v1 -noout -out "$C/$1.key" 2>/dev/null &&
    openssl req -new -key "$C/$1.key" -subj "$2" -out "$C/$1.csr" 2>/dev/null &&
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$C/$1.ext" &&
    openssl x509 -req -in "$C/$1.csr" -CA "$C/$4.pem" -CAkey "$C/$4.key" -CAcreateserial \
      -days 30 -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null
}
if mkca ca "/DC=test/DC=acme/C=FR/O=Acme CA Org/CN=Acme Test CA" &&
  mkleaf srv "/CN=full.test" "DNS:full.test,DNS:cn.test,DNS:none.test" ca &&
  mkleaf client "/DC=com/DC=acme/C=US/ST=California/L=San Francisco/O=Acme Co/O=Acme R&D/serialNumber=SN-42/CN=client one" \
    "DNS:client.acme.test,DNS:alt.acme.test,email:ops@acme.test,IP:10.1.2.3,IP:2001:db8::1,URI:spiffe://acme.test/c1" ca; then
  ok "openssl made the CA, the server and the client certificates"
else
  not_ok "openssl made the CA, the server and the client certificates"
  finish
fi

# ---- expected values, from openssl's printout (not from our code)
python3 - "$C/client.pem" >"$T/expect.env" <<'PY' || { not_ok "expected values computed"; finish; }
import base64, datetime, ipaddress, subprocess, sys, urllib.parse
pem = sys.argv[1]
x = lambda *a: subprocess.run(["openssl", "x509", "-in", pem, "-noout", *a], check=True,
                              capture_output=True, text=True).stdout
der = subprocess.run(["openssl", "x509", "-in", pem, "-outform", "DER"], check=True,
                     capture_output=True).stdout
q = lambda s: urllib.parse.quote_plus(s, safe="")   # what Go's url.QueryEscape does
def dn(which):
    out, cur = {}, None
    for line in x("-" + which, "-nameopt", "sep_multiline,sname,utf8").splitlines():
        if not line.startswith("    "):
            continue
        k, v = line.strip().split("=", 1)
        out.setdefault(k, []).append(v)
    parts = ["DC=" + v for v in out.get("DC", [])]
    for k in ("C", "ST", "L", "O"):
        parts += [k + "=" + v for v in out.get(k, []) if v]
    for k, lab in (("serialNumber", "SN"), ("CN", "CN")):
        if out.get(k) and out[k][-1]:
            parts.append(lab + "=" + out[k][-1])
    return ",".join(parts)
def date(which):
    v = x("-" + which).strip().split("=", 1)[1]
    d = datetime.datetime.strptime(v, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp())
sans = {"DNS": [], "email": [], "IP": [], "URI": []}
for item in x("-ext", "subjectAltName").splitlines()[1].strip().split(", "):
    k, v = item.split(":", 1)
    if k == "IP Address":
        a = ipaddress.ip_address(v)
        if a.version == 6 and a.ipv4_mapped:
            a = a.ipv4_mapped
        sans["IP"].append(str(a))
    else:
        sans[k].append(v)
san = ",".join(sans["DNS"] + sans["email"] + sans["IP"] + sans["URI"])
infos = 'Subject="%s",Issuer="%s",NB=%d,NA=%d,SAN=%s' % (dn("subject"), dn("issuer"),
                                                       date("startdate"), date("enddate"), san)
print("EXP_PEM='%s'" % q(base64.b64encode(der).decode()))
print("EXP_INFOS='%s'" % q(infos))
print("EXP_CN='%s'" % q('Subject="CN=%s"' % dn("subject").rsplit("CN=", 1)[1]))
print("EXP_INFOS_RAW='%s'" % infos.replace("'", ""))
PY
. "$T/expect.env"
check "expected infos cover every field ($EXP_INFOS_RAW)" \
  has "$EXP_INFOS_RAW" 'Subject="DC=com,DC=acme,C=US,ST=California,L=San Francisco,O=Acme Co,O=Acme R&D,SN=SN-42,CN=client one",Issuer="DC=test,DC=acme,C=FR,O=Acme CA Org,CN=Acme Test CA",NB='

spawn python3 "$HERE/proxy_upstream.py" --name=s1 >"$T/s1.out" 2>&1
U1=$(upstream_port s1) || { not_ok "upstream starts"; finish; }
read -r PM PO PH < <(free_ports 3)

python3 - "$C" "$PM" "$PO" "$PH" "$U1" >"$DOC" <<'PY'
import json, sys
c, pm, po, ph, u1 = sys.argv[1:]
rd = lambda n: open("%s/%s" % (c, n)).read()
srv = {"certFile": rd("srv.pem"), "keyFile": rd("srv.key")}
dn = {k: True for k in ("commonName", "country", "domainComponent", "locality",
                        "organization", "province", "serialNumber")}
be = "web"
eps = ["mtls", "mtlsopt", "http"]
doc = {
  "version": 1, "revision": 1,
  "entryPoints": {
    "mtls": {"address": "127.0.0.1:" + pm,
             "tls": {"certificates": [srv], "clientCA": {"files": [rd("ca.pem")], "optional": False}}},
    "mtlsopt": {"address": "127.0.0.1:" + po,
                "tls": {"certificates": [srv], "clientCA": {"files": [rd("ca.pem")], "optional": True}}},
    "http": {"address": "127.0.0.1:" + ph},
  },
  "frontends": {
    "full": {"entryPoints": eps, "backend": be, "routes": {"r": {"rule": "Host:full.test"}},
             "passTLSCert": True,
             "passTLSClientCert": {"pem": True, "infos": {"notBefore": True, "notAfter": True,
                                                          "sans": True, "subject": dn, "issuer": dn}}},
    "cn": {"entryPoints": eps, "backend": be, "routes": {"r": {"rule": "Host:cn.test"}},
           "passTLSClientCert": {"infos": {"subject": {"commonName": True}}}},
    "none": {"entryPoints": eps, "backend": be, "routes": {"r": {"rule": "Host:none.test"}}},
  },
  "backends": {be: {"servers": {"s1": {"url": "http://127.0.0.1:" + u1}}}},
}
print(json.dumps(doc))
PY

spawn "$BIN/traefikee" start-data-node --standalone="$DOC" >"$T/proxy.out" 2>"$T/proxy.err"

# req NAME HOST PORT [curl args...]: GET https://HOST:PORT/echo (http:// for the plain port)
# through the proxy; the upstream's JSON echo in $T/NAME.json, the status printed.
req() {
  local name=$1 host=$2 port=$3 scheme=https; shift 3
  [ "$port" = "$PH" ] && scheme=http
  curl -s --max-time 10 -o "$T/$name.json" -w '%{http_code}' --cacert "$C/ca.pem" \
    --resolve "$host:$port:127.0.0.1" "$@" "$scheme://$host:$port/echo"
}
# field NAME HEADER: every value of HEADER the upstream received, one per line.
field() {
  python3 -c '
import json, sys
for k, v in json.load(open(sys.argv[1]))["headers"]:
    if k.lower() == sys.argv[2].lower():
        print(v)' "$T/$1.json" "$2"
}
nfields() { field "$1" "$2" | grep -c . ; }
CERT=(--cert "$C/client.pem" --key "$C/client.key")
FORGED=(-H "X-Forwarded-Tls-Client-Cert: forged" -H "x-forwarded-tls-client-cert-infos: forged"
  -H "X-Forwarded-Ssl-Client-Cert: forged" -H "X-Forwarded-Ssl-Client-Cert-Infos: forged")

up() { [ "$(req up full.test "$PM" "${CERT[@]}")" = 200 ]; }
if wait_until 10 up; then
  ok "mutual TLS with the client certificate: 200 through the full frontend"
else
  not_ok "mutual TLS with the client certificate: 200 through the full frontend"
  tail -5 "$T/proxy.err" | sed "s/^/# /"
  finish
fi

r=$(req full full.test "$PM" "${CERT[@]}")
check "full: 200 ($r)" test "$r" = 200
check "full: X-Forwarded-Tls-Client-Cert is the escaped base64 DER of the client certificate" \
  test "$(field full X-Forwarded-Tls-Client-Cert)" = "$EXP_PEM"
check "full: X-Forwarded-Ssl-Client-Cert (passTLSCert) carries the same value" \
  test "$(field full X-Forwarded-Ssl-Client-Cert)" = "$EXP_PEM"
got=$(field full X-Forwarded-Tls-Client-Cert-Infos)
check "full: X-Forwarded-Tls-Client-Cert-Infos is Traefik's format, escaped ($got)" \
  test "$got" = "$EXP_INFOS"
check "full: the PEM value decodes to the certificate openssl prints" test "$(python3 -c '
import base64, sys, urllib.parse
print(base64.b64decode(urllib.parse.unquote_plus(sys.argv[1])).hex())' "$(field full X-Forwarded-Tls-Client-Cert)")" \
  = "$(openssl x509 -in "$C/client.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')"

r=$(req forged full.test "$PM" "${CERT[@]}" "${FORGED[@]}")
check "forged copies from a client with a certificate: 200 ($r)" test "$r" = 200
check "... exactly one X-Forwarded-Tls-Client-Cert, ours" \
  test "$(nfields forged X-Forwarded-Tls-Client-Cert)/$(field forged X-Forwarded-Tls-Client-Cert)" = "1/$EXP_PEM"
check "... exactly one X-Forwarded-Tls-Client-Cert-Infos, ours" \
  test "$(nfields forged X-Forwarded-Tls-Client-Cert-Infos)/$(field forged X-Forwarded-Tls-Client-Cert-Infos)" = "1/$EXP_INFOS"
check "... exactly one X-Forwarded-Ssl-Client-Cert, ours" \
  test "$(nfields forged X-Forwarded-Ssl-Client-Cert)/$(field forged X-Forwarded-Ssl-Client-Cert)" = "1/$EXP_PEM"
check "... and the old X-Forwarded-Ssl-Client-Cert-Infos is dropped" \
  test "$(nfields forged X-Forwarded-Ssl-Client-Cert-Infos)" = 0

r=$(req optnone full.test "$PO" "${FORGED[@]}")
check "optional clientCA, no certificate, forged copies: 200 ($r)" test "$r" = 200
check "... none of the four fields reaches the upstream" \
  test "$(field optnone X-Forwarded-Tls-Client-Cert; field optnone X-Forwarded-Tls-Client-Cert-Infos; field optnone X-Forwarded-Ssl-Client-Cert; field optnone X-Forwarded-Ssl-Client-Cert-Infos)" = ""
check "... while other fields cross (X-Forwarded-Proto https)" \
  test "$(field optnone X-Forwarded-Proto)" = https
r=$(req optcert full.test "$PO" "${CERT[@]}")
check "optional clientCA with the certificate: the fields are there ($r)" \
  test "$r/$(field optcert X-Forwarded-Tls-Client-Cert-Infos)" = "200/$EXP_INFOS"

r=$(req plain full.test "$PH" "${FORGED[@]}")
check "plain entry point, forged copies: 200 and none of the fields ($r)" \
  test "$r/$(field plain X-Forwarded-Tls-Client-Cert)$(field plain X-Forwarded-Tls-Client-Cert-Infos)$(field plain X-Forwarded-Ssl-Client-Cert)" = "200/"

r=$(req cn cn.test "$PM" "${CERT[@]}")
check "infos with subject.commonName only: Subject=\"CN=client one\" escaped, nothing else ($r)" \
  test "$r/$(field cn X-Forwarded-Tls-Client-Cert-Infos)/$(nfields cn X-Forwarded-Tls-Client-Cert)" = "200/$EXP_CN/0"

r=$(req none none.test "$PM" "${CERT[@]}")
check "a frontend without the options adds none of the fields ($r)" \
  test "$r/$(field none X-Forwarded-Tls-Client-Cert)$(field none X-Forwarded-Tls-Client-Cert-Infos)$(field none X-Forwarded-Ssl-Client-Cert)" = "200/"
r=$(req noneforged none.test "$PM" "${CERT[@]}" -H "X-Forwarded-Tls-Client-Cert: client-said")
check "... and leaves a client's own copy alone, as Traefik v1.7 does ($r)" \
  test "$r/$(field noneforged X-Forwarded-Tls-Client-Cert)" = "200/client-said"

# Keep-alive: a second request on the same TLS connection, after the connection sat idle long
# enough to give its TLS buffer back (250 ms), still carries the fields.
python3 - "$PM" "$C" >"$T/ka.out" 2>&1 <<'PY'
import http.client, json, ssl, sys, time
port, c = sys.argv[1:]
ctx = ssl.create_default_context(cafile=c + "/ca.pem")
ctx.load_cert_chain(c + "/client.pem", c + "/client.key")
conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=10)
ctx.check_hostname = False
for i in range(2):
    conn.request("GET", "/echo", headers={"Host": "full.test"})
    r = conn.getresponse()
    body = json.loads(r.read())
    v = [val for k, val in body["headers"] if k == "X-Forwarded-Tls-Client-Cert-Infos"]
    print("req", i, r.status, conn.sock.getsockname()[1], v[0] if v else "-")
    time.sleep(0.7)
PY
n=$(grep -c "^req [01] 200 [0-9]* $EXP_INFOS\$" "$T/ka.out")
check "keep-alive: both requests carry the infos, also after 700 ms idle ($n)" test "$n" = 2
check "... and both went over one connection (one local port)" \
  test "$(awk '/^req/{print $4}' "$T/ka.out" | sort -u | wc -l)" = 1

check "no error logged by the proxy" test "$(grep -c 'level=error' "$T/proxy.err")" = 0
finish
