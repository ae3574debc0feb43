#!/usr/bin/env bash
# tools/deps.sh — install and build everything the project needs, from Debian only.
#
# Idempotent: each step leaves a stamp under build/deps and is skipped when
# its stamp is newer than this script and tools/deps.lock.
#
#   1. Debian packages for the build and the tests (apt-get; needs root or sudo).
#   2. Debian source packages of BearSSL and LMDB (apt-get source, after adding
#      a deb-src entry if none is configured), checked against tools/deps.lock.
#   3. Static libraries built with musl-gcc:   build/deps/lib/libbearssl.a, liblmdb.a
#   4. A musl include folder build/deps/include with BearSSL's and LMDB's
#      headers, jsmn.h (from libjsmn-dev) and links to the kernel UAPI headers,
#      which musl-gcc cannot otherwise see (its specs use -nostdinc).
#
# Usage: tools/deps.sh [--packages-only]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/build/deps"
lock="$top/tools/deps.lock"
mkdir -p "$deps/src" "$deps/lib" "$deps/include" "$deps/stamp"

say() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install Debian packages"
  SUDO=sudo
fi

fresh() { # fresh STAMP: true when the stamp is newer than this script and the lock
  [ -f "$deps/stamp/$1" ] && [ "$deps/stamp/$1" -nt "$0" ] && [ "$deps/stamp/$1" -nt "$lock" ]
}
stamp() { touch "$deps/stamp/$1"; }

# Packages: build (musl, host -dev libs, clang for sanitizers and libFuzzer),
# fetching sources (dpkg-dev), and tools the tests drive (openssl, curl, file;
# headless chromium renders the dashboard in test_cluster_dashboard, with
# fonts-dejavu-core so its screenshot has glyphs).
PKGS="make gcc clang libclang-rt-14-dev llvm musl-tools musl-dev libjsmn-dev
      libbearssl-dev liblmdb-dev linux-libc-dev dpkg-dev xz-utils file
      clang-format openssl curl ca-certificates python3 procps iproute2 wrk
      etcd-server chromium fonts-dejavu-core"

if ! fresh packages; then
  missing=
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    say "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || say "apt-get update failed; trying with the current lists"
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  stamp packages
fi
[ "${1:-}" = "--packages-only" ] && exit 0

# --- Source packages --------------------------------------------------------
have_debsrc() {
  grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}
fetch_sources() { # fetch_sources PKG VERSION
  local pkg=$1 ver=$2 dir="$deps/src/$1"
  mkdir -p "$dir"
  if ! ( cd "$dir" && apt-get source --download-only "$pkg=$ver" >/dev/null 2>&1 ); then
    if ! have_debsrc; then
      say "adding a deb-src entry for Debian bookworm"
      $SUDO tee /etc/apt/sources.list.d/traefikee-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    $SUDO apt-get update -qq || true
    ( cd "$dir" && apt-get source --download-only "$pkg=$ver" >/dev/null 2>&1 ) \
      || die "apt-get source $pkg=$ver failed"
  fi
  # Check every file the lock names for this package.
  awk -v p="$pkg" '$1==p {print $4"  "$3}' "$lock" > "$dir/SHA256SUMS"
  ( cd "$dir" && sha256sum --quiet -c SHA256SUMS ) \
    || die "$pkg sources do not match tools/deps.lock"
  rm -rf "$dir/tree"
  ( cd "$dir" && dpkg-source --no-check -x "${pkg}_${ver#*:}.dsc" tree >/dev/null ) \
    || die "dpkg-source -x $pkg failed"
}

ver_of() { awk -v p="$1" '$1==p {print $2; exit}' "$lock"; }

if ! fresh bearssl; then
  v=$(ver_of bearssl); say "building BearSSL $v with musl-gcc"
  fetch_sources bearssl "$v"
  b="$deps/src/bearssl/tree"
  # Two build settings, both measured on full TLS handshakes (callgrind, instructions per
  # handshake on the server, 7.97 M before):
  # - BR_MAX_CIPHER_SUITES 48 -> 8 (6.43 M): the server's handshake code runs a linear
  #   table scan for every slot of its client-suites buffer, used or not; we configure 6
  #   suites (tls_conn.c asserts they fit).
  # - -O2 instead of -Os (6.13 M): the hashes, AES key schedules and modular arithmetic.
  # - No system seeder (BR_RDRAND=0, BR_USE_URANDOM=0): every engine of ours is seeded from
  #   getrandom through base_rand (tls_conn.c, engine_seed) before its reset, and the
  #   seeder's RDRAND reseed on top cost 57 k instructions per connection. An engine
  #   nobody seeds now fails its handshake with BR_ERR_NO_RANDOM instead.
  sed -i 's/^#define BR_MAX_CIPHER_SUITES   48$/#define BR_MAX_CIPHER_SUITES   8/' \
    "$b/inc/bearssl_ssl.h"
  grep -q '^#define BR_MAX_CIPHER_SUITES   8$' "$b/inc/bearssl_ssl.h" \
    || die "BearSSL $v: BR_MAX_CIPHER_SUITES not found in inc/bearssl_ssl.h"
  cat > "$b/conf/musl.mk" <<'MK'
include conf/Unix.mk
BUILD = build-musl
CC = musl-gcc
LD = musl-gcc
LDDLL = musl-gcc
CFLAGS = -W -Wall -O2 -fPIC -DBR_RDRAND=0 -DBR_USE_URANDOM=0
LDFLAGS = -static
DLL = no
TESTS = no
TOOLS = no
MK
  make -C "$b" CONF=musl -j"$(nproc)" lib >"$deps/bearssl-build.log" 2>&1 \
    || die "BearSSL build failed, see $deps/bearssl-build.log"
  cp "$b/build-musl/libbearssl.a" "$deps/lib/"
  mkdir -p "$deps/include/bearssl"; cp "$b"/inc/*.h "$deps/include/bearssl/"
  stamp bearssl
fi

if ! fresh lmdb; then
  v=$(ver_of lmdb); say "building LMDB $v with musl-gcc"
  fetch_sources lmdb "$v"
  l="$deps/src/lmdb/tree/libraries/liblmdb"
  mkdir -p "$deps/obj"
  musl-gcc -pthread -O2 -w -c "$l/mdb.c" -o "$deps/obj/mdb.o"
  musl-gcc -pthread -O2 -w -c "$l/midl.c" -o "$deps/obj/midl.o"
  rm -f "$deps/lib/liblmdb.a"
  ar rcs "$deps/lib/liblmdb.a" "$deps/obj/mdb.o" "$deps/obj/midl.o"
  mkdir -p "$deps/include/lmdb"; cp "$l/lmdb.h" "$deps/include/lmdb/"
  stamp lmdb
fi

if ! fresh include; then
  # jsmn from libjsmn-dev; kernel UAPI headers for musl-gcc (linux/, asm/, asm-generic/).
  mkdir -p "$deps/include/jsmn" "$deps/kinc"
  cp /usr/include/jsmn.h "$deps/include/jsmn/jsmn.h"
  ln -sfn /usr/include/linux "$deps/kinc/linux"
  ln -sfn /usr/include/asm-generic "$deps/kinc/asm-generic"
  ln -sfn "/usr/include/$(gcc -print-multiarch)/asm" "$deps/kinc/asm"
  stamp include
fi
say "ok"
