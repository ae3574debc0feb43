# shellcheck shell=sh disable=SC2034 # sets variables for tee-supervise
# /etc/traefikee/daemon.sh — the bootstrap image's daemon, sourced by
# tee-supervise after node.env was loaded. Sets "$@" to the command line:
#
#   traefikee bootstrap --advertise=ADVERTISE --listen=LISTEN
#       --licensekey=LICENSE_KEY --controlnodes=CONTROL_NODES
#       --statedir=/var/lib/traefikee_state --mtlscertsoutputdir=/root/.traefikee
#       [--timeout=BOOTSTRAP_TIMEOUT] [--api] [--log.level=LOG_LEVEL] [EXTRA_ARGS]
#
# ADVERTISE defaults to IP_ADDRESS's address on port 4242; LISTEN to
# 0.0.0.0:4242. The admin credentials land in /root/.traefikee (root's
# ./.traefikee at the console, as in the seed). The bootstrap node's job ends
# when the control nodes have joined: exit status 0, or a kill (TERM) as in
# the seed, is not restarted.
ip=${IP_ADDRESS:-}
ip=${ip%%/*}
advertise=${ADVERTISE:-${ip:+$ip:4242}}
listen=${LISTEN:-0.0.0.0:4242}
DAEMON_RESTART=on-failure
[ -n "$advertise" ] || DAEMON_ERROR="node.env sets neither ADVERTISE nor IP_ADDRESS"
case " ${EXTRA_ARGS:-} " in
*--archivepath*) ;;
*) [ -n "${LICENSE_KEY:-}" ] || DAEMON_ERROR="LICENSE_KEY is not set in node.env" ;;
esac
set -- /usr/bin/traefikee bootstrap --advertise="$advertise" --listen="$listen"
[ -n "${LICENSE_KEY:-}" ] && set -- "$@" --licensekey="$LICENSE_KEY"
set -- "$@" --controlnodes="${CONTROL_NODES:-1}" --statedir=/var/lib/traefikee_state \
	--mtlscertsoutputdir=/root/.traefikee
[ -n "${BOOTSTRAP_TIMEOUT:-}" ] && set -- "$@" --timeout="$BOOTSTRAP_TIMEOUT"
case ${API:-no} in yes | true | 1) set -- "$@" --api ;; esac
[ -n "${LOG_LEVEL:-}" ] && set -- "$@" --log.level="$LOG_LEVEL"
set -f
# shellcheck disable=SC2086 # EXTRA_ARGS is a list of flags, split on blanks
set -- "$@" ${EXTRA_ARGS:-}
set +f
