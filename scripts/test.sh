#!/usr/bin/env bash
# The tests: vet, the race-enabled tests, then the timing-heavy tests
# (build tag `timing`), which run without -race so their tolerances can stay
# strict on a loaded machine. First it installs VictoriaLogs (cached under
# ~/.cache/logrelay/bin; scripts/install-victorialogs.sh), which the _bulk
# sink's tests run against, so nothing needs installing by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
LOGRELAY_VICTORIALOGS="$(scripts/install-victorialogs.sh)"
export LOGRELAY_VICTORIALOGS
go vet ./...
go vet -tags timing ./...
go test -race ./...
go test -tags timing -count=1 -run 'Timing|SuiteInProcess' ./...
