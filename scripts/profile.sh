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
# A failed rule still leaves the profiles to look at: open them, then exit
# with the bench's status.
rc=0
go run ./bench --scenario throughput --profile --out "$out" "$@" || rc=$?
if [[ -n ${OPEN:-} && -f $out/profiles/relay-cpu.pb.gz ]]; then
	go tool pprof -http=127.0.0.1:0 "$out/profiles/relay" "$out/profiles/relay-cpu.pb.gz" || true
fi
exit "$rc"
