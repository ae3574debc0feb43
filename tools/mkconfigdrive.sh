#!/usr/bin/env bash
# tools/mkconfigdrive.sh — make a node's config drive.
#
#   tools/mkconfigdrive.sh -o OUT.img NODE_ENV [AUTHORIZED_KEYS]
#
# The drive is a raw disk image holding a plain ustar archive (padded to a
# multiple of 64 KiB) with:
#   node.env          the node's settings (config/node.env.example), mode 0600
#   authorized_keys   optional: SSH public keys for root, mode 0600
# Attach it to the VM as a virtio disk with serial "tee-config"
# (tools/bootvm.sh --config OUT.img does). At boot, S05configdrive extracts
# it into /etc/traefikee (RAM) once; the drive is never mounted, and needs no
# file-system driver. Any machine can read it back: `tar -tvf OUT.img`.
#
# The image holds secrets (join token, licence key): it is written mode 0600;
# keep it like a key file, and delete it once the node has joined.
set -euo pipefail

say() { printf 'mkconfigdrive: %s\n' "$*" >&2; }
die() { printf 'mkconfigdrive: error: %s\n' "$*" >&2; exit 1; }

out=
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=${2:?-o needs a file}; shift ;;
    -o*) out=${1#-o} ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
  shift
done
if [ -z "$out" ] || [ $# -lt 1 ] || [ $# -gt 2 ]; then
  die "usage: $0 -o OUT.img NODE_ENV [AUTHORIZED_KEYS]"
fi
env_file=$1
keys=${2:-}
[ -r "$env_file" ] || die "cannot read $env_file"
[ -z "$keys" ] || [ -r "$keys" ] || die "cannot read $keys"

# Check node.env the way the image reads it: KEY=value lines, known keys.
known=" ROLE NODE_NAME IP_ADDRESS GATEWAY DNS MTU ADVERTISE LISTEN PEERS CONTROL_NODES
 LICENSE_KEY BOOTSTRAP_TIMEOUT CONTROL_NODE_TOKEN DATA_NODE_TOKEN API LOG_LEVEL EXTRA_ARGS
 LOG_MAX_BYTES LOG_KEEP LOG_CONSOLE BACKOFF_MAX CONSOLE_ROOT_PASSWORD_HASH SSH "
known=${known//$'\n'/ }
n=0 bad=0 role=
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  line=${line%$'\r'}
  line=${line#"${line%%[! $'\t']*}"}
  case $line in ''|'#'*) continue ;; esac
  line=${line#export }
  key=${line%%=*}
  if [ "$key" = "$line" ]; then say "$env_file:$n: no '='"; bad=1; continue; fi
  case $known in *" $key "*) ;; *) say "$env_file:$n: unknown setting $key"; bad=1 ;; esac
  if [ "$key" = ROLE ]; then
    role=${line#*=}; role=${role//\"/}; role=${role//\'/}
  fi
done < "$env_file"
[ "$bad" = 0 ] || die "fix $env_file first (the image would ignore those lines)"
case $role in ''|bootstrap|control|data) ;; *) die "ROLE must be bootstrap, control or data, not '$role'" ;; esac

umask 077
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$env_file" "$stage/node.env"
[ -z "$keys" ] || cp "$keys" "$stage/authorized_keys"
chmod 0600 "$stage"/*

files=(node.env)
[ -z "$keys" ] || files+=(authorized_keys)
tar -C "$stage" --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 \
  -cf "$out.tmp" "${files[@]}"
size=$(stat -c %s "$out.tmp")
truncate -s $(( (size + 65535) / 65536 * 65536 )) "$out.tmp"
chmod 0600 "$out.tmp"
mv "$out.tmp" "$out"
say "$out: ${files[*]} ($(stat -c %s "$out") bytes)"
