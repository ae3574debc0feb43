# shellcheck shell=sh disable=SC2034 # sets variables for tee-supervise
# /etc/traefikee/daemon.sh — the control image's daemon, sourced by
# tee-supervise after node.env was loaded. Sets "$@" to the command line:
#
#   traefikee start-control-node --peeraddresses=PEERS --advertise=ADVERTISE
#       --listen=LISTEN --statedir=/var/lib/traefikee_state
#       [--api] [--log.level=LOG_LEVEL] [EXTRA_ARGS]
#
# with CONTROL_NODE_TOKEN in the daemon's environment (never on its command
# line). ADVERTISE defaults to IP_ADDRESS's address on port 4242; LISTEN to
# 0.0.0.0:4242. Give control nodes a state disk so they keep their Raft
# state across reboots (docs/install-airgapped.md).
ip=${IP_ADDRESS:-}
ip=${ip%%/*}
advertise=${ADVERTISE:-${ip:+$ip:4242}}
listen=${LISTEN:-0.0.0.0:4242}
DAEMON_TOKEN_VAR=CONTROL_NODE_TOKEN
DAEMON_RESTART=always
[ -n "$advertise" ] || DAEMON_ERROR="node.env sets neither ADVERTISE nor IP_ADDRESS"
[ -n "${PEERS:-}" ] || DAEMON_ERROR="PEERS (the other control nodes, host:port,…) is not set in node.env"
set -- /usr/bin/traefikee start-control-node --peeraddresses="${PEERS:-}" \
	--advertise="$advertise" --listen="$listen" --statedir=/var/lib/traefikee_state
case ${API:-no} in yes | true | 1) set -- "$@" --api ;; esac
[ -n "${LOG_LEVEL:-}" ] && set -- "$@" --log.level="$LOG_LEVEL"
set -f
# shellcheck disable=SC2086 # EXTRA_ARGS is a list of flags, split on blanks
set -- "$@" ${EXTRA_ARGS:-}
set +f
