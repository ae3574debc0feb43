#!/usr/bin/env bash
# tools/image-deps.sh — install what the VM images need, from Debian only.
#
# Idempotent: the apt step leaves build/deps/stamp/image-packages and is
# skipped while that stamp is newer than this script. Every run (cheap) then
# writes build/deps/image-kernel.env, which names the installed cloud
# kernel, found at run time — no kernel version is written in this repository:
#
#   KVER=6.1.0-NN-cloud-amd64            the newest installed *-cloud-amd64
#   KERNEL=/boot/vmlinuz-$KVER           the bzImage qemu and syslinux boot
#   MODDIR=/lib/modules/$KVER            where the virtio modules come from
#   BUSYBOX=/bin/busybox                 busybox-static (glibc, statically linked)
#   SYSLINUX_BIOS=/usr/lib/syslinux      mbr.bin + modules for the disk image
#
# Packages (all --no-install-recommends):
#   qemu-system-x86          the virtual machine (TCG; KVM when it works)
#   linux-image-cloud-amd64  Debian's small "cloud" kernel (virtio as modules);
#                            installing it writes into /boot, which is fine
#   busybox-static           init, shell, getty/login, ip, tar … inside images
#   cpio gzip                the initramfs (cpio newc + gzip)
#   syslinux syslinux-common mtools dosfstools fdisk
#                            the bootable raw disk (MBR + FAT + syslinux),
#                            all without mounting anything or loop devices
#   python3                  drives the serial console in tests/image
#   kmod                     modprobe --show-depends: module load order
#   iproute2                 network namespaces for the tests
#   openssh-client           the tests log in to the VM over SSH
#   musl-tools make bzip2    to build dropbear (below)
#
# SSH inside the images: Debian's source package of dropbear (apt-get source;
# apt checks it against the signed Sources index), built static with musl-gcc
# and its bundled libtomcrypt/libtommath into build/deps/dropbear/dropbearmulti
# (dropbear, dropbearkey, scp), key-only (password login compiled out). Its
# stamp is build/deps/stamp/image-dropbear; set TEE_NO_SSH=1 to skip it (the
# images are then made without SSH).
#
# Usage: tools/image-deps.sh            (as root, or a user with sudo)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/build/deps"
stampdir="$deps/stamp"
mkdir -p "$stampdir"

say() { printf 'image-deps: %s\n' "$*" >&2; }
die() { printf 'image-deps: error: %s\n' "$*" >&2; exit 1; }

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install Debian packages"
  SUDO=sudo
fi

PKGS="qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio gzip
      syslinux syslinux-common mtools dosfstools fdisk python3 kmod iproute2
      openssh-client musl-tools make bzip2 dpkg-dev"

stamp="$stampdir/image-packages"
if ! { [ -f "$stamp" ] && [ "$stamp" -nt "$0" ]; }; then
  missing=
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    say "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || say "apt-get update failed; trying with the current lists"
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null \
      || die "apt-get install failed:$missing"
  fi
  touch "$stamp"
fi

# --- dropbear, static with musl ---------------------------------------------
have_debsrc() {
  grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}
build_dropbear() {
  local dir=$deps/src/dropbear dsc tree ver
  ver=$(awk '$1=="dropbear" {print $2; exit}' "$top/tools/deps.lock")
  mkdir -p "$dir"
  rm -f "$dir"/*.dsc
  if ! ( cd "$dir" && apt-get source --download-only "dropbear=$ver" >/dev/null 2>&1 ); then
    if ! have_debsrc; then
      say "adding a deb-src entry for Debian bookworm"
      $SUDO tee /etc/apt/sources.list.d/traefikee-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    $SUDO apt-get update -qq || true
    ( cd "$dir" && apt-get source --download-only "dropbear=$ver" >/dev/null 2>&1 ) \
      || { say "apt-get source dropbear=$ver failed"; return 1; }
  fi
  # The same lock as BearSSL and LMDB: every fetched file must match.
  awk '$1=="dropbear" {print $4"  "$3}' "$top/tools/deps.lock" > "$dir/SHA256SUMS"
  ( cd "$dir" && sha256sum --quiet -c SHA256SUMS ) \
    || { say "dropbear sources do not match tools/deps.lock"; return 1; }
  dsc=$(printf '%s\n' "$dir"/dropbear_*.dsc | sort -V | tail -n1)
  [ -f "$dsc" ] || { say "no dropbear .dsc in $dir"; return 1; }
  tree=$dir/tree
  rm -rf "$tree"
  dpkg-source --no-check -x "$dsc" "$tree" >/dev/null || { say "dpkg-source -x dropbear failed"; return 1; }
  # Compile-time choices (dropbear's localoptions.h): public keys only, no
  # X11 or agent forwarding, no remote port forwarding, no DSS; host keys
  # and PATH where the image has them.
  cat > "$tree/localoptions.h" <<'OPT'
#define DROPBEAR_SVR_PASSWORD_AUTH 0
#define DROPBEAR_SVR_PAM_AUTH 0
#define DROPBEAR_X11FWD 0
#define DROPBEAR_SVR_AGENTFWD 0
#define DROPBEAR_SVR_REMOTETCPFWD 0
#define DROPBEAR_DSS 0
#define DROPBEAR_SFTPSERVER 0
#define DO_MOTD 1
#define RSA_PRIV_FILENAME "/etc/dropbear/dropbear_rsa_host_key"
#define ECDSA_PRIV_FILENAME "/etc/dropbear/dropbear_ecdsa_host_key"
#define ED25519_PRIV_FILENAME "/etc/dropbear/dropbear_ed25519_host_key"
#define DEFAULT_PATH "/usr/bin:/bin:/usr/sbin:/sbin"
#define DEFAULT_ROOT_PATH "/usr/bin:/bin:/usr/sbin:/sbin"
OPT
  ( cd "$tree" &&
    ./configure CC=musl-gcc CFLAGS=-Os LDFLAGS=-static --enable-static --enable-bundled-libtom \
      --disable-zlib --disable-pam --disable-lastlog --disable-utmp --disable-utmpx \
      --disable-wtmp --disable-wtmpx --disable-pututline --disable-pututxline &&
    make -j"$(nproc)" PROGRAMS="dropbear dropbearkey scp" MULTI=1 STATIC=1 ) \
    > "$deps/dropbear-build.log" 2>&1 \
    || { say "dropbear build failed, see $deps/dropbear-build.log"; return 1; }
  mkdir -p "$deps/dropbear"
  strip -o "$deps/dropbear/dropbearmulti" "$tree/dropbearmulti"
  basename "$dsc" .dsc | sed 's/^dropbear_//' > "$deps/dropbear/VERSION"
}
dstamp="$stampdir/image-dropbear"
if [ -z "${TEE_NO_SSH:-}" ] && ! { [ -f "$dstamp" ] && [ "$dstamp" -nt "$0" ] && [ -x "$deps/dropbear/dropbearmulti" ]; }; then
  say "building dropbear (static, musl) from Debian's source package"
  if build_dropbear; then
    touch "$dstamp"
  else
    say "warning: no SSH in the images (see above)"
  fi
fi

# --- Locate the cloud kernel that is installed now -------------------------
# The metapackage linux-image-cloud-amd64 depends on exactly one versioned
# image package; ask dpkg which, and fall back to the newest cloud kernel
# found in /boot (sort -V) if the metapackage is held or was removed.
kver=
dep=$(dpkg-query -W -f='${Depends}' linux-image-cloud-amd64 2>/dev/null \
      | tr ',' '\n' | sed -n 's/^ *linux-image-\([0-9][^ ]*-cloud-amd64\).*/\1/p' | head -n1 || true)
if [ -n "$dep" ] && [ -f "/boot/vmlinuz-$dep" ] && [ -d "/lib/modules/$dep" ]; then
  kver=$dep
else
  for k in /boot/vmlinuz-*-cloud-amd64; do
    [ -f "$k" ] || continue
    v=${k#/boot/vmlinuz-}
    [ -d "/lib/modules/$v" ] && kver=$(printf '%s\n%s\n' "$kver" "$v" | sed '/^$/d' | sort -V | tail -n1)
  done
fi
[ -n "$kver" ] || die "no cloud kernel in /boot (is linux-image-cloud-amd64 installed?)"

busybox=/bin/busybox
if ! { [ -x "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; }; then
  die "$busybox is not the static busybox (install busybox-static)"
fi
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || die "syslinux-common's mbr.bin is missing"

dropbear=
if [ -z "${TEE_NO_SSH:-}" ] && [ -x "$deps/dropbear/dropbearmulti" ]; then dropbear=$deps/dropbear/dropbearmulti; fi
env_tmp="$deps/image-kernel.env.tmp"
cat > "$env_tmp" <<EOF
# Written by tools/image-deps.sh; do not edit.
KVER=$kver
KERNEL=/boot/vmlinuz-$kver
MODDIR=/lib/modules/$kver
BUSYBOX=$busybox
SYSLINUX_BIOS=/usr/lib/syslinux
KERNEL_DEB_VERSION=$(dpkg-query -W -f='${Version}' "linux-image-$kver" 2>/dev/null || echo unknown)
QEMU_VERSION=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || echo unknown)
BUSYBOX_VERSION=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)
DROPBEAR=$dropbear
DROPBEAR_VERSION=$(cat "$deps/dropbear/VERSION" 2>/dev/null || echo none)
EOF
# Always replaced: make uses its time to know the packages are in place.
mv "$env_tmp" "$deps/image-kernel.env"
say "ok (kernel $kver)"
