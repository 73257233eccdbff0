#!/usr/bin/env bash
# The throughput scenario, same loadgen and mockdest, against (a) logrelay's
# relay, (b) a bare TCP pipe and (c) rsyslog from the distribution's packages
# (imtcp → omfwd, plain TCP; installed with apt-get if absent, through sudo
# when not root; run in the foreground with a private config and work
# directory, never as the system service), with mockdest in lines mode for
# the pipe and rsyslog. Prints one table: messages/s, MiB/s, CPU seconds and
# peak RSS of each relay, and its ratio to the pipe.
#
#   scripts/compare-relays.sh [OUT] [bench flags]
#
# OUT is the first argument unless that starts with '-', else $OUT, else
# bench-results/compare-<timestamp>.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench-results/compare-$(date +%Y%m%d-%H%M%S)}
if [[ $# -gt 0 && $1 != -* ]]; then
	out=$1
	shift
fi
PATH=$PATH:/usr/sbin:/sbin # rsyslogd's home, often not in a user's PATH
if ! command -v rsyslogd >/dev/null; then
	sudo=()
	if [[ $EUID -ne 0 ]]; then
		if ! command -v sudo >/dev/null; then
			echo "compare-relays: rsyslogd is not installed, and installing it needs root or sudo" >&2
			exit 1
		fi
		sudo=(sudo)
	fi
	if ! command -v apt-get >/dev/null; then
		echo "compare-relays: rsyslogd is not installed and there is no apt-get: install rsyslog first" >&2
		exit 1
	fi
	${sudo[@]+"${sudo[@]}"} apt-get update
	${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rsyslog
fi
work=$(mktemp -d)
in=127.0.0.1:${RSYSLOG_PORT:-15514} fwd=${RSYSLOG_DEST_PORT:-15515}
cat >"$work/rsyslog.conf" <<CONF
global(workDirectory="$work" maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="relay") {
	action(type="omfwd" target="127.0.0.1" port="$fwd" protocol="tcp" template="raw")
}
input(type="imtcp" address="127.0.0.1" port="${in##*:}" ruleset="relay")
CONF
rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslogd.pid" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go run ./bench --scenario throughput --out "$out" \
	--peer "name=rsyslog,addr=$in,dest=127.0.0.1:$fwd,pid=$pid" "$@"
