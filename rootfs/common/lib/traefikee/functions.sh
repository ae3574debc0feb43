# shellcheck shell=sh
# /lib/traefikee/functions.sh — shared by the init scripts and the supervisor.
# Sourced by busybox ash; POSIX sh only.
#
# Node settings live in /etc/traefikee/node.env (copied there from the config
# drive by S05configdrive, or baked into the image). It is read as data, never
# run as shell: only KEY=value lines with a known KEY are taken, the value is
# used as is (one pair of surrounding quotes is removed, nothing is expanded).

TEE_ENV=/etc/traefikee/node.env
TEE_ROLE_FILE=/etc/traefikee/role

tee_say()  { printf 'tee-init: %s\n' "$*"; }
tee_warn() { printf 'tee-init: warning: %s\n' "$*" >&2; }

# The keys node.env may set (config/node.env.example documents each one).
tee_known_key() {
	case $1 in
	ROLE | NODE_NAME | IP_ADDRESS | GATEWAY | DNS | MTU | \
		ADVERTISE | LISTEN | PEERS | CONTROL_NODES | LICENSE_KEY | BOOTSTRAP_TIMEOUT | \
		CONTROL_NODE_TOKEN | DATA_NODE_TOKEN | API | LOG_LEVEL | EXTRA_ARGS | \
		LOG_MAX_BYTES | LOG_KEEP | LOG_CONSOLE | BACKOFF_MAX | \
		CONSOLE_ROOT_PASSWORD_HASH | SSH)
		return 0 ;;
	esac
	return 1
}

# tee_env_load [FILE]: export the settings of FILE (default node.env).
# Returns 1 when the file is missing.
tee_env_load() {
	_f=${1:-$TEE_ENV}
	[ -r "$_f" ] || return 1
	_cr=$(printf '\r')
	_n=0
	while IFS= read -r _line || [ -n "$_line" ]; do
		_n=$((_n + 1))
		_line=${_line%"$_cr"}
		# trim leading blanks and an optional "export "
		_line=${_line#"${_line%%[! 	]*}"}
		case $_line in '' | '#'*) continue ;; esac
		case $_line in 'export '*) _line=${_line#export } ;; esac
		_key=${_line%%=*}
		if [ "$_key" = "$_line" ]; then
			tee_warn "$_f:$_n: no '=', line ignored"
			continue
		fi
		if ! tee_known_key "$_key"; then
			tee_warn "$_f:$_n: unknown setting '$_key' ignored"
			continue
		fi
		_val=${_line#*=}
		case $_val in
		\"*\") _val=${_val#\"}; _val=${_val%\"} ;;
		\'*\') _val=${_val#\'}; _val=${_val%\'} ;;
		esac
		export "$_key=$_val"
	done < "$_f"
	unset _f _cr _n _line _key _val
	return 0
}

# tee_image_role: the role this image was built for (bootstrap|control|data).
tee_image_role() { cat "$TEE_ROLE_FILE" 2>/dev/null || echo unknown; }

# tee_uptime: whole seconds since boot.
tee_uptime() {
	read -r _up _ < /proc/uptime
	echo "${_up%.*}"
	unset _up
}

# tee_uptime_s: seconds since boot with hundredths ("12.34"), for boot messages.
tee_uptime_s() {
	read -r _up _ < /proc/uptime
	echo "$_up"
	unset _up
}
