# shellcheck shell=sh disable=SC2034 # sets variables for tee-supervise
# /etc/traefikee/daemon.sh — the bootstrap image's daemon, sourced by
# tee-supervise after node.env was loaded, before each start. Sets "$@" to the
# command line. While the state directory holds no node:
#
#   traefikee bootstrap --advertise=ADVERTISE --listen=LISTEN
#       --licensekey=LICENSE_KEY --controlnodes=CONTROL_NODES
#       --statedir=/var/lib/traefikee_state --mtlscertsoutputdir=/root/.traefikee
#       [--timeout=BOOTSTRAP_TIMEOUT] [--api] [--log.level=LOG_LEVEL] [EXTRA_ARGS]
#
# Once it holds one (node.json: the daemon crashed or was killed after it
# created the cluster, or the VM rebooted with a state disk), never bootstrap
# again (that would be another cluster, with another CA and other tokens):
#
#   traefikee start-control-node --advertise=ADVERTISE --listen=LISTEN
#       --statedir=/var/lib/traefikee_state [--api] [--log.level=LOG_LEVEL]
#       [EXTRA_ARGS without bootstrap's own flags]
#
# which resumes a bootstrap still waiting for its control nodes (same cluster,
# same deadline), keeps a CONTROL_NODES=1 bootstrap node running as the
# cluster's control node, and exits 0 saying so when this node already handed
# the cluster over (its job is done).
#
# ADVERTISE defaults to IP_ADDRESS's address on port 4242; LISTEN to
# 0.0.0.0:4242. The admin credentials land in /root/.traefikee (root's
# ./.traefikee at the console, as in the seed). The bootstrap node's job ends
# when the control nodes have joined: exit status 0, or a kill (TERM) as in
# the seed, is not restarted in this boot.
ip=${IP_ADDRESS:-}
ip=${ip%%/*}
advertise=${ADVERTISE:-${ip:+$ip:4242}}
listen=${LISTEN:-0.0.0.0:4242}
state=/var/lib/traefikee_state
DAEMON_RESTART=on-failure
[ -n "$advertise" ] || DAEMON_ERROR="node.env sets neither ADVERTISE nor IP_ADDRESS"
ondisk=no
grep -q " $state " /proc/mounts 2>/dev/null && ondisk=yes

if [ -e "$state/node.json" ]; then
	j=$(cat "$state/node.json" 2>/dev/null)
	cid=$(printf '%s' "$j" | sed -n 's/.*"clusterId":"\([^"]*\)".*/\1/p')
	cname=$(printf '%s' "$j" | sed -n 's/.*"clusterName":"\([^"]*\)".*/\1/p')
	nid=$(printf '%s' "$j" | sed -n 's/.*"nodeId":"\([^"]*\)".*/\1/p')
	where="in RAM, kept since this boot"
	[ "$ondisk" = yes ] && where="on the state disk"
	DAEMON_NOTE="$state ($where) already holds this VM's node $nid of cluster $cid ($cname): not bootstrapping again (that would create another cluster); restarting the node from its state with start-control-node, which resumes the bootstrap if it is still waiting for its control nodes"
	set -- /usr/bin/traefikee start-control-node --advertise="$advertise" --listen="$listen" \
		--statedir="$state"
	case ${API:-no} in yes | true | 1) set -- "$@" --api ;; esac
	[ -n "${LOG_LEVEL:-}" ] && set -- "$@" --log.level="$LOG_LEVEL"
	set -f
	# shellcheck disable=SC2086 # EXTRA_ARGS is a list of flags, split on blanks
	for a in ${EXTRA_ARGS:-}; do
		case $a in
		--licensekey* | --archivepath* | --controlnodes* | --controlNodes* | --timeout* | \
			--mtlscertsoutputdir* | --clustername*) ;; # bootstrap's own: not for a restart
		*) set -- "$@" "$a" ;;
		esac
	done
	set +f
else
	case " ${EXTRA_ARGS:-} " in
	*--archivepath*) ;;
	*) [ -n "${LICENSE_KEY:-}" ] || DAEMON_ERROR="LICENSE_KEY is not set in node.env" ;;
	esac
	[ "$ondisk" = yes ] ||
		DAEMON_NOTE="warning: no state disk (serial tee-state): the cluster this bootstrap creates, and the admin credentials in /root/.traefikee, live in RAM only. A reboot of this VM loses them, and its next boot would bootstrap a NEW cluster (another CA, other tokens) that the nodes of this one never join. Copy the credentials off now; give the bootstrap VM a state disk (docs/install-airgapped.md)"
	set -- /usr/bin/traefikee bootstrap --advertise="$advertise" --listen="$listen"
	[ -n "${LICENSE_KEY:-}" ] && set -- "$@" --licensekey="$LICENSE_KEY"
	set -- "$@" --controlnodes="${CONTROL_NODES:-1}" --statedir="$state" \
		--mtlscertsoutputdir=/root/.traefikee
	[ -n "${BOOTSTRAP_TIMEOUT:-}" ] && set -- "$@" --timeout="$BOOTSTRAP_TIMEOUT"
	case ${API:-no} in yes | true | 1) set -- "$@" --api ;; esac
	[ -n "${LOG_LEVEL:-}" ] && set -- "$@" --log.level="$LOG_LEVEL"
	set -f
	# shellcheck disable=SC2086 # EXTRA_ARGS is a list of flags, split on blanks
	set -- "$@" ${EXTRA_ARGS:-}
	set +f
fi
