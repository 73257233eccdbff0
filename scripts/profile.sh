#!/usr/bin/env bash
# Runs the throughput scenario with the relay as its own process and saves
# its cpu, heap, allocs, goroutine, mutex and block profiles, from an extra
# profiled run, under OUT/profiles/ (the pprof commands are printed at the
# end). With OPEN set to any non-empty value (e.g. OPEN=1) it then opens the
# CPU profile in pprof's web UI.
#
#   scripts/profile.sh [OUT] [bench flags]
#
# OUT is the first argument unless that starts with '-', else $OUT, else
# bench-results/profile-<timestamp>.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench-results/profile-$(date +%Y%m%d-%H%M%S)}
if [[ $# -gt 0 && $1 != -* ]]; then
	out=$1
	shift
fi
go run ./bench --scenario throughput --profile --out "$out" "$@"
if [[ -n ${OPEN:-} ]]; then
	exec go tool pprof -http=127.0.0.1:0 "$out/profiles/relay" "$out/profiles/relay-cpu.pb.gz"
fi
