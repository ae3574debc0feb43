#!/usr/bin/env bash
# tools/bootvm.sh — boot a role's image in qemu (board/qemu-x86_64/README.md).
#
#   tools/bootvm.sh [options] ROLE
#
# Boot:
#   --boot kernel|disk   kernel (default): qemu loads the kernel and the
#                        role's initramfs itself; disk: SeaBIOS boots the raw
#                        disk image through its MBR and syslinux
#   --images DIR         where make images put them (default build/images)
#   --kernel F --initrd F --disk F    explicit files instead (release tarballs)
# Disks (virtio):
#   --config FILE        config drive (tools/mkconfigdrive.sh), read-only,
#                        serial "tee-config"
#   --state FILE         state disk, serial "tee-state"; created sparse
#                        (--state-size, default 256M) when missing
# Network (never user-mode/slirp, never a host tap):
#   --net none           no NIC (default)
#   --net dgram:LOCAL:REMOTE   point-to-point over two unix datagram sockets
#   --net listen:PORT | connect:PORT   qemu socket netdev on 127.0.0.1:PORT
#   --net mcast:GROUP:PORT     one segment for N VMs; only with --netns,
#                        inside a namespace the caller made (ip netns add)
#   --net tap:IFNAME     a tap device; only with --netns: the caller makes
#                        the namespace and the tap in it (ip tuntap add …),
#                        so the host side of the link lives in that namespace
#   --netns NAME         run qemu inside network namespace NAME
#   --mac MAC            default: 52:54:00 + 3 bytes of md5(--name)
# Console (ttyS0):
#   --console stdio      (default) serial and qemu monitor on this terminal;
#                        Ctrl-a x quits, Ctrl-a c switches to the monitor
#   --console socket:PATH   a unix socket server (connect any time; nowait)
#   --console file:PATH     write-only to a file
#   --log FILE           also copy everything the console prints to FILE
# Other:
#   --name NAME          VM name (default: ROLE); --mem MiB (default 256)
#   --accel auto|kvm|tcg (default auto, or $TEE_ACCEL): auto probes KVM once
#                        per host boot with a short timeout, else uses TCG
#   --pidfile FILE       qemu writes its PID there
#   --dry-run            print the command instead of running it
#
# qemu always runs with -nodefaults -no-reboot -display none: no default NIC,
# no VGA; poweroff and kernel panic (panic=-1) both end qemu. The script execs
# qemu, so the PID of `tools/bootvm.sh … &` is qemu's PID.
# qemu's options are comma-separated lists, not shell arrays:
# shellcheck disable=SC2054
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'bootvm: %s\n' "$*" >&2; }
die() { printf 'bootvm: error: %s\n' "$*" >&2; exit 1; }

boot=kernel images=$top/build/images kernel='' initrd='' disk=''
config='' state='' state_size=256M
net=none netns='' mac=''
console=stdio log=''
name='' mem=256 accel=${TEE_ACCEL:-auto} pidfile='' dry=0 role=''
while [ $# -gt 0 ]; do
  opt=$1 val=
  case $opt in
    --*=*) val=${opt#*=}; opt=${opt%%=*} ;;
  esac
  needval() { if [ -z "$val" ]; then [ $# -ge 2 ] || die "$opt needs a value"; val=$2; shift_extra=1; fi; }
  shift_extra=0
  case $opt in
    --boot) needval "$@"; boot=$val ;;
    --images) needval "$@"; images=$val ;;
    --kernel) needval "$@"; kernel=$val ;;
    --initrd) needval "$@"; initrd=$val ;;
    --disk) needval "$@"; disk=$val ;;
    --config) needval "$@"; config=$val ;;
    --state) needval "$@"; state=$val ;;
    --state-size) needval "$@"; state_size=$val ;;
    --net) needval "$@"; net=$val ;;
    --netns) needval "$@"; netns=$val ;;
    --mac) needval "$@"; mac=$val ;;
    --console) needval "$@"; console=$val ;;
    --log) needval "$@"; log=$val ;;
    --name) needval "$@"; name=$val ;;
    --mem) needval "$@"; mem=$val ;;
    --accel) needval "$@"; accel=$val ;;
    --pidfile) needval "$@"; pidfile=$val ;;
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
    -*) die "unknown option $opt" ;;
    *) [ -z "$role" ] || die "one role only"; role=$opt ;;
  esac
  shift
  [ "$shift_extra" = 1 ] && shift
done
case $role in bootstrap|control|data) ;; *) die "usage: $0 [options] bootstrap|control|data (see --help)" ;; esac
name=${name:-$role}
case $name in *[!A-Za-z0-9._-]*|'') die "--name: letters, digits, . _ - only" ;; esac

kernel=${kernel:-$images/vmlinuz}
initrd=${initrd:-$images/$role/initramfs.cpio.gz}
disk=${disk:-$images/$role/disk.img}
cmdline=$(cat "$top/board/qemu-x86_64/cmdline" 2>/dev/null || echo 'console=ttyS0,115200 panic=-1 quiet')

# --- Accelerator -------------------------------------------------------------
# KVM may exist and still not run this kernel (nested kvm_pvm here: it hangs,
# then fails with an emulation error). So boot a tiny busybox initramfs under
# KVM with a short timeout; it must print a line and power off. The answer is
# kept for this host boot (build/images/kvm-probe.result).
kvm_works() {
  local res boot_id
  res=$images/kvm-probe.result
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo none)
  mkdir -p "$images"
  # Several VMs start at once (the cluster test): one probes, the others wait
  # for its answer instead of racing on the same files.
  exec 9>"$images/kvm-probe.lock"
  flock 9
  if [ -r "$res" ] && [ "$(sed -n 2p "$res")" = "$boot_id" ]; then
    exec 9>&-
    [ "$(sed -n 1p "$res")" = kvm ]
    return
  fi
  if [ ! -f "$kernel" ] || [ ! -x /bin/busybox ]; then
    exec 9>&-
    say "no kernel file (or busybox) for the KVM probe: using TCG (--accel kvm forces KVM)"
    return 1
  fi
  local verdict=tcg dir
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    dir=$(mktemp -d "$images/kvm-probe.XXXXXX")
    mkdir -p "$dir/root/bin" "$dir/root/dev"
    cp /bin/busybox "$dir/root/bin/busybox"
    printf '#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs d /dev\n/bin/busybox echo KVM-PROBE-OK > /dev/console\n/bin/busybox poweroff -f\n' > "$dir/root/init"
    chmod 0755 "$dir/root/init"
    ( cd "$dir/root" && find . | cpio --quiet -o -H newc --owner=0:0 ) | gzip -1 > "$dir/probe.cpio.gz"
    ( timeout -k 2 6 qemu-system-x86_64 -accel kvm -cpu host -m 64 -nodefaults -no-reboot \
        -display none -serial "file:$dir/serial.log" -kernel "$kernel" -initrd "$dir/probe.cpio.gz" \
        -append 'console=ttyS0 panic=-1 quiet' ) >/dev/null 2>&1 || true
    grep -q KVM-PROBE-OK "$dir/serial.log" 2>/dev/null && verdict=kvm
    rm -rf "$dir" || true
  fi
  printf '%s\n%s\n' "$verdict" "$boot_id" > "$res"
  exec 9>&-
  say "KVM probe: $verdict"
  [ "$verdict" = kvm ]
}
case $accel in
  auto) if kvm_works; then accel=kvm; else accel=tcg; fi ;;
  kvm|tcg) ;;
  *) die "--accel auto|kvm|tcg" ;;
esac

args=(-name "$name" -nodefaults -no-reboot -display none -m "$mem" -smp 1 -rtc base=utc)
if [ "$accel" = kvm ]; then
  args+=(-accel kvm -cpu host)
else
  # -cpu max gives RDRAND, so the guest's getrandom() does not wait for entropy.
  args+=(-accel tcg -cpu max)
fi

# --- Boot ----------------------------------------------------------------------
case $boot in
  kernel)
    [ -f "$kernel" ] || die "no kernel $kernel (make images)"
    [ -f "$initrd" ] || die "no initramfs $initrd (make images)"
    args+=(-kernel "$kernel" -initrd "$initrd" -append "$cmdline") ;;
  disk)
    [ -f "$disk" ] || die "no disk image $disk (make images)"
    args+=(-drive "if=none,id=boot,file=$disk,format=raw,readonly=on"
           -device virtio-blk-pci,drive=boot,bootindex=0) ;;
  *) die "--boot kernel|disk" ;;
esac

# --- Disks -----------------------------------------------------------------------
if [ -n "$config" ]; then
  [ -r "$config" ] || die "cannot read config drive $config"
  args+=(-drive "if=none,id=config,file=$config,format=raw,readonly=on"
         -device virtio-blk-pci,drive=config,serial=tee-config)
fi
if [ -n "$state" ]; then
  [ -e "$state" ] || truncate -s "$state_size" "$state"
  args+=(-drive "if=none,id=state,file=$state,format=raw"
         -device virtio-blk-pci,drive=state,serial=tee-state)
fi

# --- Network -------------------------------------------------------------------
if [ -z "$mac" ]; then
  h=$(printf '%s' "$name" | md5sum)
  mac=52:54:00:${h:0:2}:${h:2:2}:${h:4:2}
fi
case $net in
  none) ;;
  dgram:*:*)
    rest=${net#dgram:}; lpath=${rest%%:*}; rpath=${rest#*:}
    args+=(-netdev "dgram,id=n0,local.type=unix,local.path=$lpath,remote.type=unix,remote.path=$rpath") ;;
  listen:*|connect:*)
    port=${net#*:}
    case $port in ''|*[!0-9]*) die "--net ${net%%:*}:PORT" ;; esac
    args+=(-netdev "socket,id=n0,${net%%:*}=127.0.0.1:$port") ;;
  mcast:*:*)
    [ -n "$netns" ] || die "--net mcast needs --netns (multicast stays inside a namespace you made)"
    rest=${net#mcast:}
    args+=(-netdev "socket,id=n0,mcast=${rest%%:*}:${rest#*:},localaddr=127.0.0.1") ;;
  tap:?*)
    [ -n "$netns" ] || die "--net tap needs --netns (the tap stays inside a namespace you made)"
    args+=(-netdev "tap,id=n0,ifname=${net#tap:},script=no,downscript=no") ;;
  *) die "--net none|dgram:LOCAL:REMOTE|listen:PORT|connect:PORT|mcast:GROUP:PORT|tap:IFNAME" ;;
esac
[ "$net" = none ] || args+=(-device "virtio-net-pci,netdev=n0,mac=$mac")

# --- Console -------------------------------------------------------------------
logopt=
[ -z "$log" ] || logopt=",logfile=$log"
case $console in
  stdio)
    args+=(-chardev "stdio,id=con0,mux=on,signal=off$logopt" -serial chardev:con0
           -mon chardev=con0,mode=readline) ;;
  socket:*)
    args+=(-chardev "socket,id=con0,path=${console#socket:},server=on,wait=off$logopt"
           -serial chardev:con0) ;;
  file:*)
    [ -z "$log" ] || die "--log goes with --console stdio or socket:"
    args+=(-serial "file:${console#file:}") ;;
  *) die "--console stdio|socket:PATH|file:PATH" ;;
esac
[ -z "$pidfile" ] || args+=(-pidfile "$pidfile")

pre=()
[ -z "$netns" ] || pre=(ip netns exec "$netns")
if [ "$dry" = 1 ]; then
  printf '%q ' "${pre[@]}" qemu-system-x86_64 "${args[@]}"; echo
  exit 0
fi
exec "${pre[@]}" qemu-system-x86_64 "${args[@]}"
