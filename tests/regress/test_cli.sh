#!/usr/bin/env bash
# The command-line interface of the static binaries: usage, help, version,
# flag forms and exit codes (0 ok, 1 failure, 2 usage).
. "$(dirname "$0")/lib.sh"

for prog in traefikee traefikeectl; do
  P="$BIN/$prog"
  check "$prog is statically linked" bash -c "file '$P' | grep -q 'statically linked'"

  run "$P"
  check "$prog without arguments prints usage, exit 0" [ "$RC" -eq 0 ]
  check "$prog usage line" has "$OUT" "Usage: $prog [flags] <command> [<arguments>]"
  check "$prog usage ends with the help hint" \
    has "$OUT" "Use \"$prog <command> --help\" for help on any command."
  run "$P" --help
  check "$prog --help is the same usage" has "$OUT" "Usage: $prog [flags] <command>"

  run "$P" frobnicate
  check "$prog unknown command exits 2" [ "$RC" -eq 2 ]
  check "$prog unknown command is named" has "$ERR" 'unknown command "frobnicate"'

  run "$P" list-nodes --no-such-flag
  check "$prog unknown flag exits 2" [ "$RC" -eq 2 ]
  check "$prog unknown flag is named" has "$ERR" "unknown flag --no-such-flag"

  run "$P" version
  check "$prog version exits 0" [ "$RC" -eq 0 ]
  check "$prog version names BearSSL, LMDB and musl" \
    bash -c "printf '%s' \"\$1\" | grep -q BearSSL && printf '%s' \"\$1\" | grep -q 'LMDB 0.9' && printf '%s' \"\$1\" | grep -q musl" _ "$OUT"
  check "$prog version has a commit and a build date" \
    bash -c "printf '%s' \"\$1\" | grep -q 'commit:' && printf '%s' \"\$1\" | grep -q 'build date:'" _ "$OUT"
done

T="$BIN/traefikee"
# Every command of the seed exists and documents its flags with defaults.
for cmd in bootstrap start-control-node start-data-node list-nodes env deploy backup rm-node update-license version; do
  run "$T" "$cmd" --help
  check "traefikee $cmd --help exits 0" [ "$RC" -eq 0 ]
  check "traefikee $cmd --help shows its usage" has "$OUT" "Usage: traefikee $cmd"
done
run "$T" bootstrap --help
for f in "--advertise=<value>" "--listen=<value>" "--licensekey" "--controlnodes=<int>" \
         "(default: 300)" "(default: /var/run/traefikee.sock)" "(default: /var/lib/traefikee_state)" \
         "(default: ./.traefikee)" "(default: :55055)" "(default: :8080)" "(default: 0.0.0.0:4242)"; do
  check "bootstrap --help lists $f" has "$OUT" "$f"
done
run "$T" deploy --help
for f in "--entryPoints=<value> ..." "--defaultentrypoints" "--consul.endpoint" "--etcd.endpoint" "--file.filename"; do
  check "deploy --help lists $f" has "$OUT" "$f"
done
run "$T" help deploy
check "traefikee help deploy shows deploy's help" has "$OUT" "Usage: traefikee deploy"

# Flag forms: case-insensitive, --f=v, --f v, bare booleans. A trailing --help
# keeps the daemon from starting: a well-formed line shows the help (exit 0), a
# malformed one is refused by the parser (exit 2).
run "$T" bootstrap --controlNodes=3 --api --Timeout 600 --licensekey=fakeLicense --help
check "seed's bootstrap flags parse" [ "$RC" -eq 0 ]
run "$T" bootstrap --controlnodes=3 --help
check "--controlnodes spelled in lower case parses too" [ "$RC" -eq 0 ]
run "$T" bootstrap --controlNodes=three
check "a non-integer count exits 2" [ "$RC" -eq 2 ]
check "a non-integer count is explained" has "$ERR" 'invalid integer "three"'
run "$T" bootstrap --controlNodes=0
check "a count under 1 exits 2" [ "$RC" -eq 2 ]
run "$T" bootstrap --timeout
check "a flag without its value exits 2" [ "$RC" -eq 2 ]
check "a missing value is explained" has "$ERR" "needs a value"
# No node listens on this socket: the command runs and fails (1), it is not refused (2).
run "$T" deploy --entryPoints='Name:http Address::80' --entryPoints='Name:https Address::443 TLS' \
  --defaultentrypoints=http,https --consul.endpoint=127.0.0.1:8500 \
  --traefikeesocket="$REGRESS_TMP/none.sock"
check "seed's deploy flags parse (reach the command)" [ "$RC" -eq 1 ]
check "deploy without a node says why" has "$ERR" "cannot connect to $REGRESS_TMP/none.sock"
run "$T" rm-node
check "rm-node without a node exits 2" [ "$RC" -eq 2 ]
run "$T" env extra
check "env with an argument exits 2" [ "$RC" -eq 2 ]

HOME="$REGRESS_TMP/home" run "$BIN/traefikeectl" connect --onpremise.mtlscertsdir="$REGRESS_TMP/x" \
  --onpremise.apiaddress=127.0.0.1:55055
check "traefikeectl connect's seed flags parse (missing credentials: exit 1)" [ "$RC" -eq 1 ]
run "$BIN/traefikeectl" deploy --traefikeesocket=/x
check "traefikeectl deploy has no local socket flag" [ "$RC" -eq 2 ]
finish
