#!/usr/bin/env bash
# Installs rsyslog and its RELP output (omrelp), which the RELP integration
# tests run as a real sender. It does nothing when rsyslogd and omrelp.so
# are already there; otherwise it runs apt-get as root, or through sudo.
# The tests run rsyslogd in the foreground with their own config; this
# script never starts or enables the system service.
set -euo pipefail
have() {
	command -v rsyslogd >/dev/null 2>&1 &&
		compgen -G '/usr/lib/*/rsyslog/omrelp.so' >/dev/null
}
if have; then
	exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	sudo=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# policy-rc.d 101: the package's postinst must not start the service.
"${sudo[@]}" sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
"${sudo[@]}" apt-get install -y -qq --no-install-recommends rsyslog rsyslog-relp
have
