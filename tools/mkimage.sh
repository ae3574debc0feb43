#!/usr/bin/env bash
# tools/mkimage.sh — build one role's VM image (Buildroot's shape).
#
#   tools/mkimage.sh [--no-disk] [--node-env FILE] [--out DIR] ROLE
#
# ROLE is bootstrap, control or data. Outputs, under DIR/ROLE (default
# build/images/ROLE):
#   rootfs/             the staged root file system (rootfs/common + rootfs/ROLE,
#                       busybox and its applet links, the static programs,
#                       the virtio modules of the cloud kernel)
#   initramfs.cpio.gz   cpio newc + gzip of rootfs/ (must stay <= 8 MiB)
#   disk.img            bootable raw disk: MBR (syslinux mbr.bin), one FAT16
#                       partition with syslinux, the kernel and the initramfs
# and DIR/vmlinuz, the kernel (the same for all roles).
#
# --node-env FILE bakes FILE into the image as /etc/traefikee/node.env (mode
# 0600), for images made for one VM; usually node.env comes from a config
# drive instead (tools/mkconfigdrive.sh).
# --no-disk builds the initramfs only.
#
# Needs tools/image-deps.sh to have run (it writes build/deps/image-kernel.env)
# and the static programs in build/bin (make all). Works as an ordinary user:
# no mounts, no loop devices, no device nodes.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'mkimage: %s\n' "$*" >&2; }
die() { printf 'mkimage: error: %s\n' "$*" >&2; exit 1; }

disk=1
node_env=
out=$top/build/images
role=
while [ $# -gt 0 ]; do
  case $1 in
    --no-disk) disk=0 ;;
    --node-env) node_env=${2:?--node-env needs a file}; shift ;;
    --node-env=*) node_env=${1#*=} ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --out=*) out=${1#*=} ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$role" ] || die "one role only"; role=$1 ;;
  esac
  shift
done
case $role in
  bootstrap|control|data) ;;
  *) die "usage: $0 [--no-disk] [--node-env FILE] [--out DIR] bootstrap|control|data" ;;
esac

kenv=$top/build/deps/image-kernel.env
[ -r "$kenv" ] || die "$kenv is missing: run tools/image-deps.sh (or make images)"
KVER='' KERNEL='' MODDIR='' BUSYBOX='' SYSLINUX_BIOS='' KERNEL_DEB_VERSION='' BUSYBOX_VERSION=''
DROPBEAR='' DROPBEAR_VERSION=''
# shellcheck disable=SC1090
. "$kenv"
if [ ! -f "$KERNEL" ] || [ ! -d "$MODDIR" ]; then die "kernel $KVER is gone: run tools/image-deps.sh again"; fi
for b in traefikee traefikeectl; do
  [ -x "$top/build/bin/$b" ] || die "build/bin/$b is missing: run make"
done
[ -z "$node_env" ] || [ -r "$node_env" ] || die "cannot read $node_env"

version=$(cat "$top/VERSION" 2>/dev/null || echo 0.0.0)
# Every file gets the same timestamp, so the same sources give the same
# initramfs: SOURCE_DATE_EPOCH, or the build date of build/gen/version.h.
epoch=${SOURCE_DATE_EPOCH:-}
if [ -z "$epoch" ]; then
  bd=$(sed -n 's/^#define TEE_BUILDDATE "\(.*\)"$/\1/p' "$top/build/gen/version.h" 2>/dev/null || true)
  epoch=$(date -u -d "$bd" +%s 2>/dev/null || echo 0)
fi

work=$out/$role
stage=$work/rootfs
rm -rf "$stage"
mkdir -p "$stage"

# --- 1. Overlays: common, then the role's ---------------------------------
cp -a "$top/rootfs/common/." "$stage/"
cp -a "$top/rootfs/$role/." "$stage/"
for d in bin sbin usr/bin usr/sbin dev proc sys run tmp mnt root var/log var/empty \
         var/lib/traefikee_state etc/traefikee "lib/modules/$KVER"; do
  mkdir -p "$stage/$d"
done

# --- 2. busybox and its applets (links never replace an overlay's file) ----
install -m 0755 "$BUSYBOX" "$stage/bin/busybox"
while IFS= read -r applet; do
  case $applet in /*) applet=${applet#/} ;; esac
  case $applet in ''|linuxrc|bin/busybox) continue ;; esac
  if [ -e "$stage/$applet" ] || [ -L "$stage/$applet" ]; then continue; fi
  dir=${applet%/*}
  [ "$dir" = "$applet" ] && dir=.
  mkdir -p "$stage/$dir"
  # relative link: bin/x -> busybox, sbin/x -> ../bin/busybox, usr/bin/x -> ../../bin/busybox
  up=
  case $dir in
    bin) up= ;;
    .) up=bin/ ;;
    *) up=$(printf '%s' "$dir" | sed 's|[^/][^/]*|..|g')/bin/ ;;
  esac
  ln -s "${up}busybox" "$stage/$applet"
done < <("$stage/bin/busybox" --list-full)

# --- 3. The static programs -------------------------------------------------
install -m 0755 "$top/build/bin/traefikee" "$stage/usr/bin/traefikee"
install -m 0755 "$top/build/bin/traefikeectl" "$stage/usr/bin/traefikeectl"

# SSH: dropbear's multi-call binary (tools/image-deps.sh builds it), when built.
if [ -n "$DROPBEAR" ] && [ -x "$DROPBEAR" ]; then
  install -m 0755 "$DROPBEAR" "$stage/usr/sbin/dropbearmulti"
  ln -s dropbearmulti "$stage/usr/sbin/dropbear"
  ln -s ../sbin/dropbearmulti "$stage/usr/bin/dropbearkey"
  ln -s ../sbin/dropbearmulti "$stage/usr/bin/scp"
  mkdir -p "$stage/etc/dropbear"
else
  DROPBEAR_VERSION=none
  say "no dropbear built (tools/image-deps.sh): this image has no SSH server"
fi

# --- 4. Kernel modules: virtio PCI transport, network and block -----------
# modprobe prints each module's dependencies first: that is the load order.
: > "$stage/lib/modules/load.list"
mods=()
for m in virtio_pci virtio_net virtio_blk; do
  while IFS= read -r ko; do mods+=("$ko"); done \
    < <(modprobe -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }')
done
for ko in $(printf '%s\n' "${mods[@]}" | awk 'NF && !seen[$0]++'); do
  name=$(basename "$ko")
  case $name in
    *.ko) cp "$ko" "$stage/lib/modules/$KVER/$name" ;;
    *.ko.xz) name=${name%.xz}; xz -dc "$ko" > "$stage/lib/modules/$KVER/$name" ;;
    *.ko.zst) name=${name%.zst}; zstd -qdc "$ko" > "$stage/lib/modules/$KVER/$name" ;;
    *.ko.gz) name=${name%.gz}; gzip -dc "$ko" > "$stage/lib/modules/$KVER/$name" ;;
    *) die "unexpected module file $ko" ;;
  esac
  echo "/lib/modules/$KVER/$name" >> "$stage/lib/modules/load.list"
done

# --- 5. Identity --------------------------------------------------------------
echo "$role" > "$stage/etc/traefikee/role"
cat > "$stage/etc/traefikee/image-info" <<EOF
role=$role
version=$version
kernel=$KVER ($KERNEL_DEB_VERSION)
busybox=$BUSYBOX_VERSION
dropbear=$DROPBEAR_VERSION
EOF
cat > "$stage/etc/os-release" <<EOF
NAME="traefikee"
ID=traefikee
VERSION_ID=$version
PRETTY_NAME="traefikee $version ($role node)"
VARIANT_ID=$role
EOF
if [ -n "$node_env" ]; then
  install -m 0600 "$node_env" "$stage/etc/traefikee/node.env"
fi

# --- 6. Modes, owners are set by cpio (--owner=0:0) ------------------------
chmod 0755 "$stage"
chmod 0700 "$stage/root" "$stage/etc/traefikee" "$stage/var/lib/traefikee_state"
[ ! -d "$stage/etc/dropbear" ] || chmod 0700 "$stage/etc/dropbear"
chmod 0600 "$stage/etc/shadow"
chmod 1777 "$stage/tmp"
chmod 0755 "$stage/init"
find "$stage" -exec touch -h -d "@$epoch" {} +

# --- 7. initramfs ---------------------------------------------------------------
initrd=$work/initramfs.cpio.gz
( cd "$stage" && find . -mindepth 1 -print | LC_ALL=C sort \
    | cpio --quiet -o -H newc --owner=0:0 --reproducible ) | gzip -9 -n > "$initrd.tmp"
mv "$initrd.tmp" "$initrd"
isize=$(stat -c %s "$initrd")
usize=$(du -sb --apparent-size "$stage" | awk '{print $1}')
limit=$((8 * 1024 * 1024))
[ "$isize" -le "$limit" ] || die "initramfs is $isize bytes, over the 8 MiB budget"

install -m 0644 "$KERNEL" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
ksize=$(stat -c %s "$out/vmlinuz")

# --- 8. Bootable raw disk: MBR + FAT16 partition + syslinux ---------------
dsize=
if [ "$disk" = 1 ]; then
  img=$work/disk.img
  cmdline=$(cat "$top/board/qemu-x86_64/cmdline")
  sed "s|@CMDLINE@|$cmdline|" "$top/board/qemu-x86_64/syslinux.cfg" > "$work/syslinux.cfg"
  # Partition 1 starts at 1 MiB; it holds the kernel, the initramfs and
  # syslinux with 25% + 2 MiB to spare, in whole MiB.
  need=$(( (ksize + isize) * 5 / 4 + 2 * 1024 * 1024 ))
  part_mib=$(( (need + 1048575) / 1048576 ))
  rm -f "$img.tmp"
  truncate -s $(( (part_mib + 1) * 1048576 )) "$img.tmp"
  printf 'label: dos\nlabel-id: 0x7ee0b007\nstart=2048, size=%d, type=e, bootable\n' \
    $(( part_mib * 2048 )) | sfdisk --quiet "$img.tmp"
  mkfs.vfat -F 16 -n TEEBOOT -i 7ee0b007 --offset=2048 "$img.tmp" $(( part_mib * 1024 )) >/dev/null
  export MTOOLS_SKIP_CHECK=1
  part="$img.tmp@@1048576"
  mcopy -m -i "$part" "$out/vmlinuz" ::/vmlinuz
  mcopy -m -i "$part" "$initrd" ::/initrd.gz
  mcopy -m -i "$part" "$work/syslinux.cfg" ::/syslinux.cfg
  syslinux --offset 1048576 --install "$img.tmp"
  dd if="$SYSLINUX_BIOS/mbr/mbr.bin" of="$img.tmp" bs=440 count=1 conv=notrunc status=none
  mv "$img.tmp" "$img"
  dsize=$(stat -c %s "$img")
fi

printf 'mkimage: %-9s initramfs %9d bytes (%d uncompressed, budget %d)\n' "$role" "$isize" "$usize" "$limit"
printf 'mkimage: %-9s kernel    %9d bytes (%s)\n' "$role" "$ksize" "$KVER"
[ -z "$dsize" ] || printf 'mkimage: %-9s disk.img  %9d bytes (raw, MBR + FAT16 + syslinux)\n' "$role" "$dsize"
