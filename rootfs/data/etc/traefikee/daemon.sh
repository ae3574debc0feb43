# shellcheck shell=sh disable=SC2034 # sets variables for tee-supervise
# /etc/traefikee/daemon.sh — the data image's daemon, sourced by
# tee-supervise after node.env was loaded. Sets "$@" to the command line:
#
#   traefikee start-data-node --peeraddresses=PEERS
#       --statedir=/var/lib/traefikee_state
#       [--advertise=ADVERTISE] [--listen=LISTEN] [--log.level=LOG_LEVEL] [EXTRA_ARGS]
#
# with DATA_NODE_TOKEN in the daemon's environment (never on its command
# line). A data node keeps its last good routing configuration in the state
# directory; it is in RAM unless the VM has a state disk.
DAEMON_TOKEN_VAR=DATA_NODE_TOKEN
DAEMON_RESTART=always
[ -n "${PEERS:-}" ] || DAEMON_ERROR="PEERS (the control nodes, host:port,…) is not set in node.env"
set -- /usr/bin/traefikee start-data-node --peeraddresses="${PEERS:-}" \
	--statedir=/var/lib/traefikee_state
[ -n "${ADVERTISE:-}" ] && set -- "$@" --advertise="$ADVERTISE"
[ -n "${LISTEN:-}" ] && set -- "$@" --listen="$LISTEN"
[ -n "${LOG_LEVEL:-}" ] && set -- "$@" --log.level="$LOG_LEVEL"
set -f
# shellcheck disable=SC2086 # EXTRA_ARGS is a list of flags, split on blanks
set -- "$@" ${EXTRA_ARGS:-}
set +f
