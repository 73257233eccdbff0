#!/usr/bin/env bash
# The tests: vet, the race-enabled tests, then the timing-heavy tests
# (build tag `timing`), which run without -race so their tolerances can stay
# strict on a loaded machine. First it installs what the integration tests
# run against, so nothing needs installing by hand: VictoriaLogs (cached
# under ~/.cache/logrelay/bin; scripts/install-victorialogs.sh) for the
# HTTP sinks, and rsyslog with omrelp (scripts/install-rsyslog.sh, through
# apt-get as root or with sudo) as a real RELP sender. Without root or sudo
# rsyslog stays out and the tests that need it skip, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
LOGRELAY_VICTORIALOGS="$(scripts/install-victorialogs.sh)"
export LOGRELAY_VICTORIALOGS
scripts/install-rsyslog.sh || echo "test.sh: rsyslog not installed: the RELP integration tests will skip" >&2
go vet ./...
go vet -tags timing ./...
go test -race ./...
go test -tags timing -count=1 -run 'Timing|SuiteInProcess' ./...
