#!/usr/bin/env bash
# tests/image/test_boot_data.sh — boot the data image with a config drive and
# check, from its serial console: init ran, the config drive was read, eth0
# has the configured address, the supervisor started the daemon and restarts
# it with back-off when it exits, root logs in on the console (password from
# node.env) and runs `traefikee version`, secrets stay off command lines and
# the log, SSH takes the key from the config drive and no password, and
# poweroff ends the VM.
#
# Network: a namespace made by this test holding only lo and a tap device
# (10.99.0.1/24) that qemu attaches the VM's NIC to; ping and ssh run in that
# namespace. Nothing touches the host's own network. Without the rights to
# make a namespace, the NIC goes on a unix datagram socket instead and the
# ping/ssh checks are skipped. TEE_IMAGE_NOBUILD=1 skips the
# image build (make test-images builds first). IMG_KEEP=1 keeps the scratch
# folder (console log and transcript) for a look.
. "$(dirname "$0")/lib.sh"

version=$(cat "$IMG_TOP/VERSION")
if img_build data; then
  ok "data image built"
else
  not_ok "data image built (see below)"
  sed 's/^/  /' "$IMG_TMP/build.log" | tail -20
  finish
fi
initrd=$IMG_TOP/build/images/data/initramfs.cpio.gz
isize=$(stat -c %s "$initrd")
check "initramfs is within 8 MiB ($isize bytes)" [ "$isize" -le 8388608 ]

# --- the log sink's rotation, with the image's own awk (busybox) -----------------
mkdir -p "$IMG_TMP/sink"
seq 1 3000 | sed 's/^/a line of the daemon log, long enough to fill 4 KiB soon: /' |
  busybox awk -v file="$IMG_TMP/sink/t.log" -v max=4096 -v keep=2 -v start=0 -v console=0 \
    -f "$IMG_TOP/rootfs/common/lib/traefikee/logsink.awk"
check "log sink rotates at LOG_MAX_BYTES and keeps LOG_KEEP old files" \
  bash -c "cd '$IMG_TMP/sink' && [ \"\$(ls | tr '\n' ' ')\" = 't.log t.log.1 t.log.2 ' ] &&
           [ \$(stat -c %s t.log.1) -le 4300 ] && tail -n 1 t.log | grep -q ' 3000\$'"

# --- config drive ----------------------------------------------------------------
pw=console-test-pw
salt=teetest1
hash=$(busybox mkpasswd -m sha512 "$pw" "$salt")
token=DATA-TOKEN-must-not-leak-7f3a
cat > "$IMG_TMP/node.env" <<EOF
# test node
ROLE=data
NODE_NAME=img-data-1
IP_ADDRESS=10.99.0.3/24
PEERS="10.99.0.2:4242"
DATA_NODE_TOKEN="$token"
CONSOLE_ROOT_PASSWORD_HASH='$hash'
LOG_MAX_BYTES=65536
EOF
ssh-keygen -q -t ed25519 -N '' -C image-test -f "$IMG_TMP/id_ed25519"
cp "$IMG_TMP/id_ed25519.pub" "$IMG_TMP/authorized_keys"
if "$IMG_TOP/tools/mkconfigdrive.sh" -o "$IMG_TMP/config.img" "$IMG_TMP/node.env" \
     "$IMG_TMP/authorized_keys" 2> "$IMG_TMP/mkconfigdrive.err"; then
  ok "config drive made"
else
  not_ok "config drive made: $(cat "$IMG_TMP/mkconfigdrive.err")"
  finish
fi
check "config drive is mode 0600" [ "$(stat -c %a "$IMG_TMP/config.img")" = 600 ]
check "config drive is a plain tar with node.env and authorized_keys" \
  bash -c "tar -tf '$IMG_TMP/config.img' | sort | tr '\n' ' ' | grep -qx 'authorized_keys node.env '"

# --- network namespace with a tap ----------------------------------------------------
ns=tee-img-$$
if img_netns "$ns" && ip -n "$ns" tuntap add dev tap0 mode tap &&
   ip -n "$ns" addr add 10.99.0.1/24 dev tap0 && ip -n "$ns" link set tap0 up; then
  net=(--netns "$ns" --net tap:tap0)
  have_ns=1
else
  net=(--net "dgram:$IMG_TMP/data1.net:$IMG_TMP/peer.net")
  have_ns=0
fi

# --- boot -------------------------------------------------------------------------
img_boot data1 data --config "$IMG_TMP/config.img" "${net[@]}"
qpid=$IMG_PID

if img_wait data1 'tee-init: boot done at [0-9.]+s: role data, node img-data-1' 60; then
  ok "init ran (boot done after ${IMG_WAITED}s)"
else
  not_ok "init ran"
  sed 's/^/  /' "$IMG_TMP/data1.qemu.out" "$IMG_TMP/data1.log" | tail -30
  finish
fi
check "config drive read at boot" img_has data1 'tee-init: config drive /dev/vd[a-z] read: authorized_keys node.env'
check "eth0 configured with 10.99.0.3/24 (log)" \
  img_has data1 'tee-init: eth0 52:54:00(:[0-9a-f]{2}){3} 10\.99\.0\.3/24'
check "no warnings from init" bash -c "! grep -aq 'tee-init: warning' '$IMG_TMP/data1.log'"

if img_wait data1 'tee-supervise\[data\]: starting \(attempt 1\): /usr/bin/traefikee start-data-node --peeraddresses=10\.99\.0\.2:4242' 30; then
  ok "supervisor started the data daemon (after ${IMG_WAITED}s)"
else
  not_ok "supervisor started the data daemon"
fi
# The test's token is deliberately not a join token, so the daemon refuses it
# ("traefikee: the join token is malformed …", without echoing it) and exits 1;
# a daemon that runs logs logfmt lines (level=…). Either way its output must
# reach the log.
check "the daemon's own output reaches the console log" \
  img_wait data1 '^(traefikee( start-data-node)?: |time=.* level=)' 20
if img_wait data1 'tee-supervise\[data\]: daemon exited' 5; then
  check "exit is followed by a 1 s back-off" \
    img_wait data1 'daemon exited with status [0-9]+ after [0-9]+s; restarting in 1s' 5
  check "the supervisor restarts the daemon" img_wait data1 'tee-supervise\[data\]: starting \(attempt 2\)' 10
  check "the back-off doubles (2 s after the second exit)" \
    img_wait data1 'restarting in 2s' 10
else
  ok "the daemon keeps running (no restart needed)"
fi

# --- serial console ------------------------------------------------------------------
# shellcheck disable=SC2016 # expanded by the VM's shell, not this one
mark='END-$((6*7))'
if img_console data1 'send:\r' 'expect:login: ' 'send:root\r' 'expect:Password: ' "send:$pw\r" \
     'expect:root@img-data-1:~# ' \
     "send:traefikee version; ip -4 -o addr show dev eth0; hostname; stat -c 'mode=%a' /etc/traefikee/node.env /root/.ssh/authorized_keys; cat /proc/cmdline; wc -c < /var/log/traefikee/traefikee.log; echo $mark\\r" \
     'expect:END-42' 2> "$IMG_TMP/console.err"; then
  ok "root logs in on the serial console with the password from node.env"
else
  not_ok "root logs in on the serial console: $(cat "$IMG_TMP/console.err")"
fi
t=$IMG_TMP/data1.transcript
touch "$t"
check "traefikee version runs at the console" grep -aq "traefikee version $version" "$t"
check "eth0 has 10.99.0.3/24 (ip addr)" grep -aqE 'eth0 +inet 10\.99\.0\.3/24' "$t"
check "hostname is NODE_NAME" grep -aqx $'img-data-1\r\\?' "$t"
check "node.env and authorized_keys are mode 0600" bash -c "[ \$(grep -ac '^mode=600' '$t') -eq 2 ]"
check "kernel command line is the board's, with no node settings" \
  grep -aqxE "$(cat "$IMG_TOP/board/qemu-x86_64/cmdline")"$'\r'? "$t"
check "the join token is not on any command line or in the log" \
  bash -c "! grep -aq '$token' '$t' '$IMG_TMP/data1.log'"
check "the daemon log file is written" grep -aqE '^[1-9][0-9]*'$'\r''?$' "$t"

# --- network and SSH, from the test's namespace -----------------------------------------
if [ "$have_ns" = 1 ]; then
  check "the VM answers ping on 10.99.0.3" \
    bash -c "ip netns exec '$ns' busybox ping -c 1 -W 5 10.99.0.3 > /dev/null"
  check "sshd is on (host key fingerprint on the console)" \
    img_wait data1 'tee-init: ssh on port 22, keys only; host key ed25519 SHA256:' 5
  sshopt=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 -o LogLevel=ERROR)
  out=$(ip netns exec "$ns" timeout 60 ssh "${sshopt[@]}" -o BatchMode=yes -i "$IMG_TMP/id_ed25519" \
        root@10.99.0.3 'traefikee version; hostname' 2>&1)
  check "ssh with the config drive's key runs traefikee version" \
    bash -c "printf '%s' \"\$1\" | grep -q 'traefikee version $version' && printf '%s' \"\$1\" | grep -qx img-data-1" _ "$out"
  out=$(ip netns exec "$ns" timeout 60 ssh "${sshopt[@]}" -o BatchMode=yes -o PubkeyAuthentication=no \
        -o PreferredAuthentications=password,keyboard-interactive -v root@10.99.0.3 true 2>&1)
  check "ssh offers public keys only (no password)" \
    bash -c "printf '%s' \"\$1\" | grep -q 'can continue: publickey' && ! printf '%s' \"\$1\" | grep -q 'can continue:.*password'" _ "$out"
else
  ok "network checks # SKIP no network namespace (not root?)"
fi

# --- poweroff ------------------------------------------------------------------------
img_console data1 'send:poweroff\r' 'sleep:0.2' 2>/dev/null
if img_exited "$qpid" 30; then
  ok "poweroff stops the daemon and ends the VM"
else
  not_ok "poweroff stops the daemon and ends the VM"
fi
check "supervisor stopped on poweroff" img_has data1 'tee-supervise\[data\]: supervisor stopping'
note "console log: $(wc -l < "$IMG_TMP/data1.log") lines; total $(awk -v a="$IMG_T0" -v b="$(img_now)" 'BEGIN { printf "%.1f", b - a }')s from qemu start to exit"
finish
