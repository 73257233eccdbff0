#!/usr/bin/env bash
# Installs VictoriaLogs v1.52.1 (the release logrelay's tests run against)
# with go install, into ${XDG_CACHE_HOME:-$HOME/.cache}/logrelay/bin, unless
# it is already there, and prints the binary's path. The tests find it
# there (or at $LOGRELAY_VICTORIALOGS); scripts/test.sh calls this script, and CI
# caches that directory between runs.
set -euo pipefail
version=v1.52.1
bindir="${XDG_CACHE_HOME:-$HOME/.cache}/logrelay/bin"
bin="$bindir/victoria-logs"
if [[ ! -x "$bin" ]]; then
	mkdir -p "$bindir"
	GOBIN="$bindir" go install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$version" >&2
fi
echo "$bin"
